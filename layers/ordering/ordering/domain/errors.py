"""The errors of the product contract (docs/contract.md), with their exact messages and statuses.

The messages are a contract other services depend on: change them only with docs/contract.md.
"""

from __future__ import annotations


class OrderingError(Exception):
    """A request the service refuses; `status` and `message` are what the client sees."""

    status: int = 400
    message: str = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class InvalidRequest(OrderingError):
    """A malformed request: the message names the field and the problem."""


class IdentityRequired(OrderingError):
    message = "Either UserId or GuestToken must be provided"


class Unauthorized(OrderingError):
    status = 401
    message = "Unauthorized"


class SignedInWithGuestToken(OrderingError):
    """A signed-in caller acts as that user alone: a guest token beside a token is refused."""

    message = "A signed-in request cannot carry a guest token"


class TwoIdentities(OrderingError):
    """Without a token, an anonymous `userId` and a guest token are two identities: one only."""

    message = "A request cannot carry both a userId and a guest token"


class ReservationIdRequired(InvalidRequest):
    """Only a signed-in caller may let the service find its reservation for the seat: user ids
    are not secret, and a reservation id is known only to the client that made it."""

    message = "Field 'reservationId' is required"


class ReservationNotFound(OrderingError):
    message = "Reservation not found"
    # The reservation-created event may simply not be consumed yet.
    headers = {"Retry-After": "2"}  # noqa: RUF012 - read-only class constant


class ReservationForDifferentSeat(OrderingError):
    message = "Reservation is for a different seat"


class ReservationOfAnotherCustomer(OrderingError):
    status = 403
    message = "Reservation belongs to another customer"


class ReservationExpired(OrderingError):
    message = "Reservation has expired"


class ReservationNotActive(OrderingError):
    def __init__(self, status: str) -> None:
        super().__init__(f"Reservation is {status}")


class SeatReservedByAnother(OrderingError):
    message = "Seat has an active reservation"


class PriceNotPositive(OrderingError):
    message = "Price must be greater than zero"


class PriceMismatch(OrderingError):
    message = "Price does not match the reserved seat price"


class SeatPriceUnknown(OrderingError):
    """A Catalog is configured and knows no price for the seat, even after the copy was refreshed."""

    status = 409
    message = "Seat price is unknown"


class SeatAlreadyInCart(OrderingError):
    message = "Seat is already in the cart"


class SeatInAnotherOrder(OrderingError):
    status = 409
    message = "Seat is already in another order"


class OrderFull(OrderingError):
    def __init__(self, max_seats: int) -> None:
        super().__init__(f"Order cannot hold more than {max_seats} seats")


class EventSeatLimitReached(OrderingError):
    """The customer's live orders hold the most seats of the seat's event one customer may."""

    status = 409

    def __init__(self, max_seats: int) -> None:
        super().__init__(f"Customer cannot hold more than {max_seats} seats of this event")


class OrderNotFound(OrderingError):
    status = 404
    message = "Order not found"


class CartNotFound(OrderingError):
    status = 404
    message = "Cart not found"


class SeatNotInCart(OrderingError):
    status = 404
    message = "Seat is not in the cart"


class OrderNotDraft(OrderingError):
    message = "Order is not in draft state"


class OrderEmpty(OrderingError):
    message = "Order is empty"


class OrderNotCancellable(OrderingError):
    status = 409

    def __init__(self, state: str) -> None:
        super().__init__(f"Order cannot be cancelled in state '{state}'")


class IdempotencyKeyReused(OrderingError):
    status = 409
    message = "Idempotency key reused with a different request"


class IdempotencyKeyInUse(OrderingError):
    """Not expected: a concurrent request with the key waits for the first instead."""

    status = 409
    message = "Idempotency key is in use by a request in progress"


class ServiceUnavailable(Exception):
    """A store the request needs is unreachable: 503, and the request may be retried."""

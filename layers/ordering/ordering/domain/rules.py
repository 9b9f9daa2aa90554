"""The checks of add-to-cart and checkout, in the contract's order: the first failing one wins.

Each function takes what the use case read and raises the error the client must see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.domain.order import CART, Order, OrderState
from ordering.domain.reservation import EXPIRED, Reservation

CENTS = Decimal("0.01")


def require_reservation_id(caller: Caller, reservation_id: UUID | None) -> None:
    """A caller without a token names the reservation: only a signed-in caller's reservation
    may be found by its seat (see identity.py)."""
    if reservation_id is None and caller.user_id is None:
        raise errors.ReservationIdRequired()


def check_reservation(
    caller: Caller,
    seat_id: UUID,
    reservation: Reservation | None,
    now: datetime,
    *,
    seat_held_by_another: bool = False,
) -> Reservation:
    """The reservation checks of POST /cart/add; returns the reservation the item will carry.

    `seat_held_by_another` is true when no reservation id was given and the seat's active
    reservation belongs to someone else.
    """
    if reservation is None:
        if seat_held_by_another:
            raise errors.SeatReservedByAnother()
        raise errors.ReservationNotFound()
    if reservation.seat_id != seat_id:
        raise errors.ReservationForDifferentSeat()
    if not caller.owns_customer(reservation.customer_hash) or (caller.user_id is None and reservation.for_known_user):
        # a user id is no secret: once seen signed in, only that user's token claims its reservations
        raise errors.ReservationOfAnotherCustomer()
    if reservation.expires_at <= now or reservation.status == EXPIRED:
        raise errors.ReservationExpired()
    if not reservation.is_live(now):
        raise errors.ReservationNotActive(reservation.status)
    return reservation


def check_price(price: Decimal, reservation: Reservation) -> None:
    """The price's own checks, then Inventory's price for the seat when it sent one."""
    if not price.is_finite() or price <= 0:
        raise errors.PriceNotPositive()
    if price != price.quantize(CENTS):
        raise errors.InvalidRequest("Field 'price' must have at most 2 decimal places")
    if reservation.priced_by_inventory and price != reservation.base_price:
        raise errors.PriceMismatch()


def check_catalog_price(price: Decimal, catalog_price: Decimal | None) -> None:
    """With prices verified, a seat Inventory sent no price for sells at the Catalog's price."""
    if catalog_price is None:
        raise errors.SeatPriceUnknown()
    if price != catalog_price:
        raise errors.PriceMismatch()


@dataclass(frozen=True, slots=True)
class SeatHolder:
    """The non-cancelled order that holds a seat, if any."""

    order_id: UUID
    owner_key: str
    state: OrderState
    origin: str = CART


def check_placement(caller: Caller, seat_holder: SeatHolder | None, draft_item_count: int, max_seats: int) -> None:
    """The seat checks of POST /cart/add, after the reservation and the price."""
    if seat_holder is not None:
        if seat_holder.state == OrderState.DRAFT and caller.owns(seat_holder):
            raise errors.SeatAlreadyInCart()
        raise errors.SeatInAnotherOrder()
    if draft_item_count >= max_seats:
        raise errors.OrderFull(max_seats)


def check_checkout(
    caller: Caller, order: Order | None, reservations: Iterable[Reservation | None], now: datetime
) -> None:
    """The checks of POST /orders/checkout; `reservations` are those of the order's items."""
    if order is None:
        raise errors.OrderNotFound()
    if not caller.owns(order):
        raise errors.Unauthorized()
    if order.state != OrderState.DRAFT:
        raise errors.OrderNotDraft()
    if not order.items:
        raise errors.OrderEmpty()
    if any(reservation is None or not reservation.is_live(now) for reservation in reservations):
        raise errors.ReservationExpired()


def is_platform_service(caller: Caller, service_roles: frozenset[str]) -> bool:
    """A call of the internal API, or one with a service-role token."""
    return caller.internal or (caller.role is not None and caller.role in service_roles)


def require_platform_service(caller: Caller, service_roles: frozenset[str]) -> None:
    if not is_platform_service(caller, service_roles):
        raise errors.Unauthorized()


def can_read(caller: Caller, order: Order, service_roles: frozenset[str]) -> bool:
    """Owners and platform services read an order; anyone else is told it does not exist."""
    return is_platform_service(caller, service_roles) or caller.owns(order)


CANCELLABLE = frozenset({OrderState.DRAFT, OrderState.PENDING})


def check_cancel(caller: Caller, order: Order | None, *, by_service: bool) -> bool:
    """The checks of PATCH /orders/{orderId}/cancel; True when the order is to be cancelled,
    False when it is cancelled already (a no-op, so that a retry succeeds)."""
    if order is None or not (by_service or caller.owns(order)):
        raise errors.OrderNotFound()
    if order.state == OrderState.CANCELLED:
        return False
    if order.state not in CANCELLABLE:
        raise errors.OrderNotCancellable(order.state)
    return True

"""The checks of add-to-cart, checkout and cancel, in the contract's order: the first failing one wins.

A statement that changes an order checks its guards where the data is (store/orders.py) and
reports, in the same round trip, which of them held; the classes here name those guards and say
which error the first that did not hold is. Add-to-cart checks the reservation it has (the
cache's copy) by the same classes before it writes, so that a stale one costs no round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol
from uuid import UUID

from ordering.domain import errors
from ordering.domain.errors import OrderingError
from ordering.domain.identity import Caller
from ordering.domain.order import Order, OrderState
from ordering.domain.reservation import ACTIVE, EXPIRED, Reservation

CENTS = Decimal("0.01")


def _first_refused(guards: Iterable[tuple[bool, Callable[[], OrderingError]]]) -> OrderingError | None:
    """The error of the first guard that did not hold, or None when every one held."""
    return next((error() for held, error in guards if not held), None)


class Guards(Protocol):
    def refusal(self) -> OrderingError | None: ...


@dataclass(frozen=True, slots=True)
class Guarded[G: Guards]:
    """What a guarded statement did: which of its guards held, and the order as it left it."""

    guards: G
    order: Order | None

    def answer(self) -> Order:
        """The order, or the contract's error for the first guard that did not hold."""
        refused = self.guards.refusal()
        if refused is not None:
            raise refused
        assert self.order is not None  # every guard held: the statement returned the order
        return self.order


def require_reservation_id(caller: Caller, reservation_id: UUID | None) -> None:
    """A caller without a token names the reservation: only a signed-in caller's reservation
    may be found by its seat (see identity.py)."""
    if reservation_id is None and caller.user_id is None:
        raise errors.ReservationIdRequired()


@dataclass(frozen=True, slots=True)
class ReservationGuards:
    """Add-to-cart's checks of the reservation the item will carry."""

    found: bool
    for_the_seat: bool
    # the caller's: its customer id is the caller's identity, and a user id seen signed in
    # (store/known_users.py) is claimed by its token alone, a user id being no secret
    customers: bool
    not_expired: bool
    active: bool
    status: str  # "" when not found

    def refusal(self) -> OrderingError | None:
        return _first_refused(
            (
                (self.found, errors.ReservationNotFound),
                (self.for_the_seat, errors.ReservationForDifferentSeat),
                (self.customers, errors.ReservationOfAnotherCustomer),
                (self.not_expired, errors.ReservationExpired),
                (self.active, partial(errors.ReservationNotActive, self.status)),
            )
        )


def reservation_guards(
    caller: Caller, seat_id: UUID, reservation: Reservation | None, now: datetime
) -> ReservationGuards:
    """The reservation's guards as a copy of it says (the cache's, or one read before the write)."""
    if reservation is None:
        return ReservationGuards(False, False, False, False, False, "")
    return ReservationGuards(
        found=True,
        for_the_seat=reservation.seat_id == seat_id,
        customers=caller.owns_customer(reservation.customer_hash)
        and not (caller.user_id is None and reservation.for_known_user),
        not_expired=reservation.expires_at > now and reservation.status != EXPIRED,
        active=reservation.status == ACTIVE,
        status=reservation.status,
    )


def check_reservation(
    caller: Caller,
    seat_id: UUID,
    reservation: Reservation | None,
    now: datetime,
    *,
    seat_held_by_another: bool = False,
) -> Reservation:
    """The reservation checks of POST /cart/add on the copy at hand; returns the reservation the
    item will carry.

    `seat_held_by_another` is true when no reservation id was given and the seat's active
    reservation belongs to someone else.
    """
    if reservation is None and seat_held_by_another:
        raise errors.SeatReservedByAnother()
    refused = reservation_guards(caller, seat_id, reservation, now).refusal()
    if refused is not None:
        raise refused
    assert reservation is not None  # it was found
    return reservation


def check_price(price: Decimal, reservation: Reservation) -> None:
    """The price's own checks, then Inventory's price for the seat when it sent one."""
    if not price.is_finite() or price <= 0:
        raise errors.PriceNotPositive()
    if price != price.quantize(CENTS):
        raise errors.InvalidRequest("Field 'price' must have at most 2 decimal places")
    if reservation.priced_by_inventory and price != reservation.base_price:
        raise errors.PriceMismatch()


@dataclass(frozen=True, slots=True)
class AddToCartGuards:
    """Which of add-to-cart's guards held when the statement put the seat in the cart, or did not."""

    reservation: ReservationGuards
    # the seat's price is known: Inventory's when it sent one, else the Catalog's (where prices
    # are verified); and it is the price asked
    price_known: bool
    price_matches: bool
    not_in_cart: bool  # the seat is not in the caller's cart already
    in_no_other_order: bool  # nor in any other live order
    has_room: bool  # the cart took it (it holds fewer than max_seats); false too when an earlier guard failed
    max_seats: int

    def refusal(self) -> OrderingError | None:
        return self.reservation.refusal() or _first_refused(
            (
                (self.price_known, errors.SeatPriceUnknown),
                (self.price_matches, errors.PriceMismatch),
                (self.not_in_cart, errors.SeatAlreadyInCart),
                (self.in_no_other_order, errors.SeatInAnotherOrder),
                (self.has_room, partial(errors.OrderFull, self.max_seats)),
            )
        )


@dataclass(frozen=True, slots=True)
class CheckoutGuards:
    """Which of checkout's guards held, as the statement that moves the order saw it."""

    found: bool
    owned: bool
    is_draft: bool
    has_items: bool
    reservations_live: bool  # every item's reservation is active and not past its expiry

    def refusal(self) -> OrderingError | None:
        return _first_refused(
            (
                (self.found, errors.OrderNotFound),
                (self.owned, errors.Unauthorized),
                (self.is_draft, errors.OrderNotDraft),
                (self.has_items, errors.OrderEmpty),
                (self.reservations_live, errors.ReservationExpired),
            )
        )


@dataclass(frozen=True, slots=True)
class CancelGuards:
    """Which of cancel's guards held, as the statement that cancels the order saw it."""

    found: bool
    owned: bool  # by the caller, or cancelled by a platform service (the internal API)
    cancellable: bool
    state_found: str  # "" when not found

    def refusal(self) -> OrderingError | None:
        return _first_refused(
            (
                (self.found, errors.OrderNotFound),
                (self.owned, errors.OrderNotFound),  # another's order is not found, as none
                # cancelling a cancelled order changes nothing, so that a retry succeeds
                (
                    self.cancellable or self.state_found == OrderState.CANCELLED,
                    partial(errors.OrderNotCancellable, self.state_found),
                ),
            )
        )


def is_platform_service(caller: Caller, service_roles: frozenset[str]) -> bool:
    """A call of the internal API, or one with a service-role token."""
    return caller.internal or (caller.role is not None and caller.role in service_roles)


def require_platform_service(caller: Caller, service_roles: frozenset[str]) -> None:
    if not is_platform_service(caller, service_roles):
        raise errors.Unauthorized()


def can_read(caller: Caller, order: Order, service_roles: frozenset[str]) -> bool:
    """Owners and platform services read an order; anyone else is told it does not exist."""
    return is_platform_service(caller, service_roles) or caller.owns(order)

"""The checks of add-to-cart, checkout and cancel, in the contract's order: the first failing one wins.

A statement that changes an order checks its guards where the data is (store/orders.py) and
reports, in the same round trip, which of them held; the classes here name those guards and say
which error the first that did not hold is. Add-to-cart checks the reservation it has (the
cache's copy) by the same classes before it writes, so that a stale one costs no round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from ordering.domain import errors
from ordering.domain.errors import OrderingError
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.domain.reservation import ACTIVE, EXPIRED, Reservation

CENTS = Decimal("0.01")


def guard(refusal: type[OrderingError] | Callable[[Any], OrderingError]) -> Any:
    """A flag of a guarded statement, with the contract's error when it does not hold: an error
    class, or a function of the guards for a message that names one of their values."""
    make = (lambda _: refusal()) if isinstance(refusal, type) else refusal
    return field(metadata={"refusal": make})


class Guards:
    """A guarded statement's flags, declared with `guard` in the contract's order: the first that
    did not hold is the answer (guards nested as a field are asked in their place)."""

    __slots__ = ()

    def refusal(self) -> OrderingError | None:
        for declared in fields(cast(Any, self)):
            value = getattr(self, declared.name)
            if isinstance(value, Guards):
                nested = value.refusal()
                if nested is not None:
                    return nested
            elif "refusal" in declared.metadata and not value:
                refused: OrderingError = declared.metadata["refusal"](self)
                return refused
        return None


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
class ReservationGuards(Guards):
    """Add-to-cart's checks of the reservation the item will carry."""

    status: str  # "" when not found
    found: bool = guard(errors.ReservationNotFound)
    for_the_seat: bool = guard(errors.ReservationForDifferentSeat)
    # the caller's: its customer id is the caller's identity, and a user id seen signed in
    # (store/known_users.py) is claimed by its token alone, a user id being no secret
    customers: bool = guard(errors.ReservationOfAnotherCustomer)
    not_expired: bool = guard(errors.ReservationExpired)
    active: bool = guard(lambda guards: errors.ReservationNotActive(guards.status))


def reservation_guards(
    caller: Caller, seat_id: UUID, reservation: Reservation | None, now: datetime
) -> ReservationGuards:
    """The reservation's guards as a copy of it says (the cache's, or one read before the write)."""
    if reservation is None:
        return ReservationGuards(
            status="", found=False, for_the_seat=False, customers=False, not_expired=False, active=False
        )
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
class AddToCartGuards(Guards):
    """Which of add-to-cart's guards held when the statement put the seat in the cart, or did not."""

    reservation: ReservationGuards
    max_seats: int
    max_seats_per_event: int
    # the seat's price is known: Inventory's when it sent one, else the Catalog's (where prices
    # are verified); and it is the price asked
    price_known: bool = guard(errors.SeatPriceUnknown)
    price_matches: bool = guard(errors.PriceMismatch)
    not_in_cart: bool = guard(errors.SeatAlreadyInCart)  # the seat is not in the caller's cart already
    in_no_other_order: bool = guard(errors.SeatInAnotherOrder)  # nor in any other live order
    # the customer's live orders hold fewer seats of the seat's event than the limit (true when
    # there is none, or the seat's event is not known)
    under_event_limit: bool = guard(lambda guards: errors.EventSeatLimitReached(guards.max_seats_per_event))
    # the cart took it (it holds fewer than max_seats); false too when an earlier guard failed
    has_room: bool = guard(lambda guards: errors.OrderFull(guards.max_seats))


@dataclass(frozen=True, slots=True)
class CheckoutGuards(Guards):
    """Which of checkout's guards held, as the statement that moves the order saw it."""

    found: bool = guard(errors.OrderNotFound)
    owned: bool = guard(errors.Unauthorized)
    is_draft: bool = guard(errors.OrderNotDraft)
    has_items: bool = guard(errors.OrderEmpty)
    # every item's reservation is active and not past its expiry
    reservations_live: bool = guard(errors.ReservationExpired)


@dataclass(frozen=True, slots=True)
class CancelGuards(Guards):
    """Which of cancel's guards held, as the statement that cancels the order saw it."""

    state_found: str  # "" when not found
    found: bool = guard(errors.OrderNotFound)
    # by the caller, or cancelled by a platform service (the internal API); another's order is
    # not found, as none
    owned: bool = guard(errors.OrderNotFound)
    # draft or pending, or cancelled already: cancelling a cancelled order changes nothing, so
    # that a retry succeeds
    may_cancel: bool = guard(lambda guards: errors.OrderNotCancellable(guards.state_found))


def is_platform_service(caller: Caller, service_roles: frozenset[str]) -> bool:
    """A call of the internal API, or one with a service-role token."""
    return caller.internal or (caller.role is not None and caller.role in service_roles)


def require_platform_service(caller: Caller, service_roles: frozenset[str]) -> None:
    if not is_platform_service(caller, service_roles):
        raise errors.Unauthorized()


def can_read(caller: Caller, order: Order, service_roles: frozenset[str]) -> bool:
    """Owners and platform services read an order; anyone else is told it does not exist."""
    return is_platform_service(caller, service_roles) or caller.owns(order)

"""Orders, their items and the five states an order moves through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

# Where an order comes from: a cart built from reservations by add-to-cart, or a waitlist order
# the Waitlist service places for a seat it allots (orders.origin)
CART = "cart"
WAITLIST = "waitlist"


class OrderState(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


# draft → pending → paid → fulfilled, and draft/pending → cancelled; an order cancelled by a
# payment failure is paid (or fulfilled) again when the retried payment succeeds and its seats
# are still free (domain/lifecycle.py).
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.DRAFT: frozenset({OrderState.PENDING, OrderState.CANCELLED}),
    OrderState.PENDING: frozenset({OrderState.PAID, OrderState.CANCELLED}),
    OrderState.PAID: frozenset({OrderState.FULFILLED}),
    OrderState.FULFILLED: frozenset(),
    OrderState.CANCELLED: frozenset({OrderState.PAID, OrderState.FULFILLED}),
}


def can_transition(source: OrderState, target: OrderState) -> bool:
    return target in TRANSITIONS[source]


def sources(target: OrderState) -> frozenset[OrderState]:
    """The states an order moves to `target` from."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


# what a checkout (→ pending) and a cancel (→ cancelled) may start from: draft; draft or pending
CHECKOUT_FROM = sources(OrderState.PENDING)
CANCELLABLE = sources(OrderState.CANCELLED)


@dataclass(frozen=True, slots=True)
class OrderItem:
    id: UUID
    seat_id: UUID
    price: Decimal
    reservation_id: UUID | None  # None for a waitlist item
    seat_number: str | None
    section: str | None
    # the concert, where truly known (a waitlist's concertEventId, a reservation-expired's)
    concert_event_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Order:
    id: UUID
    # who owns it, as identity.Caller.owner_key spells it (bearer secrets only as hashes)
    owner_key: str
    # the signed-in owner's id; None for guests and anonymous customers
    user_id: str | None
    customer_email: str | None
    state: OrderState
    total_amount: Decimal
    created_at: datetime
    paid_at: datetime | None
    items: tuple[OrderItem, ...] = field(default=())
    origin: str = CART

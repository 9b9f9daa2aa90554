"""How the platform's events move an order through its lifecycle, as pure functions.

Every rule here is written so that any interleaving and duplication of one valid history
ends in the same order: a ticket that arrives before its payment still ends `fulfilled` and
gets `paidAt` when the payment arrives; a failure or an expiry cancels only what has not been
paid. A payment that failed and was retried sends a failure and a success on two topics, in
either order: an order the failure cancelled is revived by the success (or by the ticket that
overtakes it) while its seats are still free, so that both orders of arrival end alike. Events
that contradict the order are returned as conflicts, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ordering.domain.order import CANCELLABLE, OrderState
from ordering.domain.reservation import Reservation

REFUND = "refund"
REVIEW = "review"

# why an order was cancelled (orders.cancel_reason); only a payment failure can be undone
PAYMENT_FAILED = "payment-failed"
RESERVATION_EXPIRED = "reservation-expired"


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """The part of an order the events act on."""

    id: UUID
    state: OrderState
    total_amount: Decimal
    paid_at: datetime | None
    fulfilled_at: datetime | None
    payment_id: str | None
    cancel_reason: str | None = None
    version: int = 0  # of the order's published events (outbox): the last one's
    # the state it was cancelled from (None: cancelled before the service recorded it)
    cancelled_from: OrderState | None = None

    @property
    def revivable(self) -> bool:
        """Cancelled by a payment failure once checked out, which a retried payment that succeeded
        undoes. A cart (draft) a payment failure cancelled is never paid: Payment charges
        checked-out orders only, so a payment for it is one to refund."""
        return (
            self.state == OrderState.CANCELLED
            and self.cancel_reason == PAYMENT_FAILED
            and self.cancelled_from != OrderState.DRAFT
        )


@dataclass(frozen=True, slots=True)
class PaymentSucceeded:
    payment_id: str
    order_id: UUID
    amount: Decimal
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentFailed:
    payment_id: str
    order_id: UUID


@dataclass(frozen=True, slots=True)
class TicketIssued:
    ticket_id: str
    order_id: UUID
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    """Cancels the orders that hold the reservation (the store finds them)."""

    reservation_id: UUID
    # the reservation as the event describes it, kept expired should the expiry overtake its creation
    reservation: Reservation | None = None


LifecycleEvent = PaymentSucceeded | PaymentFailed | TicketIssued | ReservationExpired


@dataclass(frozen=True, slots=True)
class Conflict:
    order_id: UUID
    kind: str
    resolution: str
    amount: Decimal | None
    order_total: Decimal


def _conflict(order: OrderStatus, kind: str, resolution: str, amount: Decimal | None = None) -> Conflict:
    return Conflict(order.id, kind, resolution, amount, order.total_amount)


def apply(order: OrderStatus, event: LifecycleEvent, *, seats_free: bool) -> tuple[OrderStatus, Conflict | None]:
    """The order after the event, and the conflict the event raises, if any.

    `seats_free`: no other live order holds any of the order's seats (the store knows); it
    decides whether an order cancelled by a payment failure can be revived."""
    match event:
        case PaymentSucceeded():
            return _payment_succeeded(order, event, seats_free=seats_free)
        case PaymentFailed() | ReservationExpired():
            if order.state in CANCELLABLE:
                reason = RESERVATION_EXPIRED if isinstance(event, ReservationExpired) else PAYMENT_FAILED
                cancelled = replace(order, state=OrderState.CANCELLED, cancel_reason=reason, cancelled_from=order.state)
                return cancelled, None
            return order, None  # paid or fulfilled orders are not undone by a late failure
        case TicketIssued():
            return _ticket_issued(order, event, seats_free=seats_free)


def _payment_succeeded(
    order: OrderStatus, event: PaymentSucceeded, *, seats_free: bool
) -> tuple[OrderStatus, Conflict | None]:
    state, amount = order.state, event.amount
    # The amount first: the total is fixed from checkout on, so this verdict does not depend on
    # which other events came first (the state's would).
    if amount != order.total_amount:
        return order, _conflict(order, "payment_amount_mismatch", REVIEW, amount)
    if state == OrderState.CANCELLED:
        if order.revivable and seats_free:
            # the retry of a failed payment succeeded: paid, as had the failure come second
            return _revived(order, OrderState.PAID, paid_at=event.processed_at, payment_id=event.payment_id), None
        return order, _conflict(order, "payment_for_cancelled_order", REFUND, amount)
    if order.payment_id is not None and order.payment_id != event.payment_id:
        return order, _conflict(order, "second_payment", REFUND, amount)
    if state == OrderState.DRAFT:
        return order, _conflict(order, "payment_for_draft_order", REVIEW, amount)
    paid = replace(order, paid_at=order.paid_at or event.processed_at, payment_id=event.payment_id)
    if state == OrderState.PENDING:
        return replace(paid, state=OrderState.PAID), None
    return paid, None  # paid already, or fulfilled by a ticket that came first


def _ticket_issued(order: OrderStatus, event: TicketIssued, *, seats_free: bool) -> tuple[OrderStatus, Conflict | None]:
    state = order.state
    if state == OrderState.CANCELLED:
        if order.revivable and seats_free:
            # the ticket of a retried payment that succeeded, overtaking that payment: fulfilled,
            # as from pending below, and paid when the payment arrives
            return _revived(order, OrderState.FULFILLED, fulfilled_at=event.issued_at), None
        return order, _conflict(order, "ticket_for_cancelled_order", REVIEW)
    if state == OrderState.DRAFT:
        return order, _conflict(order, "ticket_for_draft_order", REVIEW)
    if state == OrderState.FULFILLED:
        return order, None
    # from paid, or from pending when the payment's event is still on its way
    return replace(order, state=OrderState.FULFILLED, fulfilled_at=event.issued_at), None


def _revived(order: OrderStatus, state: OrderState, **changes: Any) -> OrderStatus:
    """The order a payment failure cancelled, live again: no longer cancelled, so no reason."""
    return replace(order, state=state, cancel_reason=None, cancelled_from=None, **changes)


def applied_to_another_order(order: OrderStatus, event: PaymentSucceeded | PaymentFailed | TicketIssued) -> Conflict:
    """The event's id (a ticket id, a payment id) was applied to another order already: the same
    ticket or payment cannot be this order's too, so a person looks at it."""
    if isinstance(event, TicketIssued):
        return _conflict(order, "ticket_for_another_order", REVIEW)
    amount = event.amount if isinstance(event, PaymentSucceeded) else None
    return _conflict(order, "payment_for_another_order", REVIEW, amount)


# the events the service publishes (SPEC 3b), one per change of an order
ORDER_CHECKED_OUT = "order-checked-out"
ORDER_PAID = "order-paid"
ORDER_FULFILLED = "order-fulfilled"
ORDER_CANCELLED = "order-cancelled"


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One change of an order, as the platform is told of it (the outbox's row, which the relay
    publishes as the matching model of published/events.py): the order as that change left it."""

    order_id: UUID
    version: int
    event_type: str
    state: OrderState
    total_amount: Decimal
    reason: str | None = None


def changes_of(before: OrderStatus, after: OrderStatus) -> list[OrderChange]:
    """The changes from `before` to `after` to publish, numbered on from `before.version`:
    paid (the payment recorded, even for an order a ticket fulfilled first), then fulfilled,
    or cancelled. A change that only completes what was known (a late duplicate) tells nothing."""
    found: list[tuple[str, OrderState, str | None]] = []
    fulfilled_now = after.state == OrderState.FULFILLED and before.state != OrderState.FULFILLED
    if after.paid_at is not None and before.paid_at is None:
        # paid, then fulfilled in this same batch: the paid event says what it was between
        found.append((ORDER_PAID, OrderState.PAID if fulfilled_now else after.state, None))
    if fulfilled_now:
        found.append((ORDER_FULFILLED, OrderState.FULFILLED, None))
    if after.state == OrderState.CANCELLED and before.state != OrderState.CANCELLED:
        found.append((ORDER_CANCELLED, OrderState.CANCELLED, after.cancel_reason))
    return [
        OrderChange(after.id, before.version + number, event_type, state, after.total_amount, reason)
        for number, (event_type, state, reason) in enumerate(found, start=1)
    ]

"""How the platform's events move an order through its lifecycle, as pure functions.

Every rule here is written so that any interleaving and duplication of one valid history
ends in the same order: a ticket that arrives before its payment still ends `fulfilled` and
gets `paidAt` when the payment arrives; a failure or an expiry cancels only what has not been
paid. Events that contradict the order are returned as conflicts, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ordering.domain.order import OrderState

REFUND = "refund"
REVIEW = "review"


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """The part of an order the events act on."""

    id: UUID
    state: OrderState
    total_amount: Decimal
    paid_at: datetime | None
    fulfilled_at: datetime | None
    payment_id: str | None


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


def apply(order: OrderStatus, event: LifecycleEvent) -> tuple[OrderStatus, Conflict | None]:
    """The order after the event, and the conflict the event raises, if any."""
    state = order.state
    match event:
        case PaymentSucceeded(payment_id=payment_id, amount=amount, processed_at=processed_at):
            # The amount first: the total is fixed from checkout on, so this verdict does not
            # depend on which other events came first (the state's would).
            if amount != order.total_amount:
                return order, _conflict(order, "payment_amount_mismatch", REVIEW, amount)
            if state == OrderState.CANCELLED:
                return order, _conflict(order, "payment_for_cancelled_order", REFUND, amount)
            if order.payment_id is not None and order.payment_id != payment_id:
                return order, _conflict(order, "second_payment", REFUND, amount)
            if state == OrderState.DRAFT:
                return order, _conflict(order, "payment_for_draft_order", REVIEW, amount)
            paid = replace(order, paid_at=order.paid_at or processed_at, payment_id=payment_id)
            if state == OrderState.PENDING:
                return replace(paid, state=OrderState.PAID), None
            return paid, None  # paid already, or fulfilled by a ticket that came first
        case PaymentFailed() | ReservationExpired():
            if state in (OrderState.DRAFT, OrderState.PENDING):
                return replace(order, state=OrderState.CANCELLED), None
            return order, None  # paid or fulfilled orders are not undone by a late failure
        case TicketIssued(issued_at=issued_at):
            if state == OrderState.CANCELLED:
                return order, _conflict(order, "ticket_for_cancelled_order", REVIEW)
            if state == OrderState.DRAFT:
                return order, _conflict(order, "ticket_for_draft_order", REVIEW)
            if state == OrderState.FULFILLED:
                return order, None
            # from paid, or from pending when the payment's event is still on its way
            return replace(order, state=OrderState.FULFILLED, fulfilled_at=issued_at), None

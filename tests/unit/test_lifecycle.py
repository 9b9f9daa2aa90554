"""The lifecycle's decisions, without a database (domain/lifecycle.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from ordering.domain import lifecycle
from ordering.domain.lifecycle import OrderStatus, PaymentFailed, PaymentSucceeded, TicketIssued
from ordering.domain.order import OrderState

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def _order(state: OrderState, total: str = "50.00") -> OrderStatus:
    return OrderStatus(uuid.uuid4(), state, Decimal(total), None, None, None)


@pytest.mark.parametrize(
    ("cancelled_from", "paid_again"),
    [(OrderState.PENDING, True), (OrderState.DRAFT, False)],
    ids=["checked-out", "cart"],
)
def test_only_a_checked_out_order_a_payment_failure_cancelled_is_paid_by_its_retry(
    cancelled_from: OrderState, paid_again: bool
) -> None:
    # Given an order in `cancelled_from`, cancelled by a payment failure
    order = _order(cancelled_from)
    cancelled, _ = lifecycle.apply(order, PaymentFailed("p1", order.id), seats_free=True)
    assert (cancelled.state, cancelled.cancelled_from) == (OrderState.CANCELLED, cancelled_from)
    # When the retried payment succeeds, for its total, its seats free
    after, conflict = lifecycle.apply(
        cancelled, PaymentSucceeded("p2", order.id, Decimal("50.00"), NOW), seats_free=True
    )
    # Then a checked-out order is paid; a cart stays cancelled and the payment is to refund
    if paid_again:
        assert (after.state, conflict) == (OrderState.PAID, None)
    else:
        assert after.state == OrderState.CANCELLED
        assert conflict is not None
        assert (conflict.kind, conflict.resolution) == ("payment_for_cancelled_order", "refund")


def test_a_payment_of_zero_pays_an_order_of_zero() -> None:
    # Given a pending order whose total is 0 (a free waitlist seat)
    order = _order(OrderState.PENDING, "0.00")
    # When a payment of 0 succeeds
    after, conflict = lifecycle.apply(order, PaymentSucceeded("p1", order.id, Decimal("0.00"), NOW), seats_free=True)
    # Then it is paid
    assert (after.state, after.paid_at, conflict) == (OrderState.PAID, NOW, None)


def test_an_event_id_applied_to_another_order_is_a_review_conflict() -> None:
    # Given a paid order
    order = _order(OrderState.PAID)
    # When a ticket and a payment whose ids went to another order are named for it
    ticket = lifecycle.applied_to_another_order(order, TicketIssued("TKT-1", order.id, NOW))
    payment = lifecycle.applied_to_another_order(order, PaymentSucceeded("p1", order.id, Decimal("50.00"), NOW))
    # Then each is a conflict for review
    assert (ticket.kind, ticket.resolution, ticket.amount) == ("ticket_for_another_order", "review", None)
    assert (payment.kind, payment.resolution, payment.amount) == (
        "payment_for_another_order",
        "review",
        Decimal("50.00"),
    )

"""A batch of lifecycle events folded over its orders, without a database (domain/batch.py).

`Ledger` keeps in memory what the store keeps in PostgreSQL for the fold (the events consumed
and the order each went to, the orders, the seats their items hold, the conflicts), and reads
and writes as store/lifecycle.py does, so the arrival-order property runs here in milliseconds;
tests/integration/test_lifecycle_property.py runs it against the real store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import count
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordering.domain.batch import ClaimedMeanwhile, Consumed, Locked, Outcome, SeatHeld, fold, order_of
from ordering.domain.lifecycle import (
    PAYMENT_FAILED,
    LifecycleEvent,
    OrderStatus,
    PaymentFailed,
    PaymentSucceeded,
    ReservationExpired,
    TicketIssued,
)
from ordering.domain.order import OrderState
from tests.support import HISTORIES

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
LIVE = (OrderState.DRAFT, OrderState.PENDING, OrderState.PAID, OrderState.FULFILLED)
_offsets = count()


def _pending(total: str = "100.00") -> OrderStatus:
    return OrderStatus(uuid.uuid4(), OrderState.PENDING, Decimal(total), None, None, None)


def _event_id(event: LifecycleEvent) -> str:
    match event:
        case PaymentSucceeded() | PaymentFailed():
            return event.payment_id
        case TicketIssued():
            return event.ticket_id
        case ReservationExpired():
            return str(event.reservation_id)


@dataclass
class Ledger:
    """The store's state for the lifecycle, in memory."""

    orders: dict[UUID, OrderStatus] = field(default_factory=dict)
    items: dict[UUID, list[tuple[UUID, UUID]]] = field(default_factory=dict)  # order → (seat, reservation)
    consumed: dict[tuple[str, str], UUID | None] = field(default_factory=dict)
    conflicts: set[tuple[str, str, str, UUID]] = field(default_factory=set)  # as order_conflicts_once

    def add(self, order: OrderStatus, seats: int = 2) -> list[tuple[UUID, UUID]]:
        self.orders[order.id] = order
        self.items[order.id] = [(uuid.uuid4(), uuid.uuid4()) for _ in range(seats)]
        return self.items[order.id]

    def apply(self, topic: str, events: Sequence[LifecycleEvent]) -> Outcome[int]:
        batch = [Consumed(_event_id(event), event, next(_offsets)) for event in events]
        outcome = fold(topic, batch, self._claim_lock_and_read(topic, batch))
        self._write(outcome)
        return outcome

    def _claim_lock_and_read(self, topic: str, batch: list[Consumed[int]]) -> Locked:
        applied_before = {
            i.event_id: self.consumed[topic, i.event_id] for i in batch if (topic, i.event_id) in self.consumed
        }
        for item in batch:
            self.consumed.setdefault((topic, item.event_id), order_of(item.event))
        live = {o for o, order in self.orders.items() if order.state in (OrderState.DRAFT, OrderState.PENDING)}
        expiring = {e.reservation_id for e in (i.event for i in batch) if isinstance(e, ReservationExpired)}
        holders: dict[UUID, list[UUID]] = {}
        for order_id in sorted(live):
            for _, reservation in self.items[order_id]:
                if reservation in expiring:
                    holders.setdefault(reservation, []).append(order_id)
        named = {order_of(i.event) for i in batch} | {o for found in holders.values() for o in found}
        reviving = {i.event.order_id for i in batch if isinstance(i.event, PaymentSucceeded | TicketIssued)}
        seat_holder = {seat: o for o, order in self.orders.items() if order.state in LIVE for seat, _ in self.items[o]}
        return Locked(
            orders={o: self.orders[o] for o in named if o in self.orders},
            fresh=frozenset(i.event_id for i in batch if i.event_id not in applied_before),
            applied_before=applied_before,
            holders=holders,
            seats=[
                SeatHeld(o, seat, seat_holder.get(seat))
                for o in reviving & self.orders.keys()
                if self.orders[o].state == OrderState.CANCELLED and self.orders[o].cancel_reason == PAYMENT_FAILED
                for seat, _ in self.items[o]
            ],
        )

    def _write(self, outcome: Outcome[int]) -> None:
        for order in outcome.orders:
            self.orders[order.id] = order
        self.conflicts |= {(topic, event_id, c.kind, c.order_id) for topic, event_id, c in outcome.conflicts}

    def end(self, order_id: UUID) -> tuple[OrderState, dt.datetime | None, list[tuple[str, str]]]:
        order = self.orders[order_id]
        return (
            order.state,
            order.paid_at,
            sorted((kind, topic) for topic, _, kind, o in self.conflicts if o == order_id),
        )


def _history(ledger: Ledger, steps: list[str]) -> tuple[UUID, list[tuple[str, LifecycleEvent]]]:
    """A pending order of two seats in `ledger`, and the events of its history."""
    order = _pending()
    items = ledger.add(order)
    events: list[tuple[str, LifecycleEvent]] = []
    for step in steps:
        topic, _, variant = step.partition(":")
        topic, _, which = topic.partition("#")
        some_id = str(uuid.uuid4())
        if topic == "payment-succeeded":
            amount = order.total_amount - (1 if variant else 0)
            events.append((topic, PaymentSucceeded(some_id, order.id, amount, NOW)))
        elif topic == "payment-failed":
            events.append((topic, PaymentFailed(some_id, order.id)))
        elif topic == "ticket-issued":
            events.append((topic, TicketIssued(some_id, order.id, NOW)))
        else:
            events.append((topic, ReservationExpired(items[1 if which else 0][1])))
    return order.id, events


def _deliver(ledger: Ledger, deliveries: list[tuple[str, LifecycleEvent]], sizes: list[int]) -> None:
    """Deliver in this order, cutting runs of one topic into batches of the given sizes."""
    index, cut = 0, 0
    while index < len(deliveries):
        topic, size = deliveries[index][0], sizes[cut % len(sizes)]
        cut += 1
        batch: list[LifecycleEvent] = []
        while index < len(deliveries) and deliveries[index][0] == topic and len(batch) < size:
            batch.append(deliveries[index][1])
            index += 1
        ledger.apply(topic, batch)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), history=st.sampled_from(sorted(HISTORIES)))
def test_any_interleaving_of_a_history_ends_as_its_causal_delivery(data: st.DataObject, history: str) -> None:
    # Given two twin pending orders with the same history
    ledger = Ledger()
    steps, end_state = HISTORIES[history]
    causal, causal_events = _history(ledger, steps)
    shuffled, shuffled_events = _history(ledger, steps)
    # When one twin's events arrive once, in causal order, one at a time
    _deliver(ledger, causal_events, [1])
    assert ledger.end(causal)[0] == OrderState(end_state)
    # and the other's arrive in any order, each one to three times, in batches of any size
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(steps), max_size=len(steps)))
    stream = data.draw(
        st.permutations([e for e, times in zip(shuffled_events, copies, strict=True) for _ in range(times)])
    )
    _deliver(ledger, stream, data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=5)))
    # Then both end in the same state, with the same paidAt and the same conflicts
    assert ledger.end(shuffled) == ledger.end(causal)


def test_a_redelivered_event_changes_nothing_and_is_counted_a_duplicate() -> None:
    # Given a pending order its payment paid
    ledger = Ledger()
    order, [(topic, paid)] = _history(ledger, ["payment-succeeded"])
    ledger.apply(topic, [paid])
    # When the payment comes again, twice in one batch
    outcome = ledger.apply(topic, [paid, paid])
    # Then nothing changes, nothing is published, and both are duplicates
    assert (outcome.applied, outcome.duplicates, outcome.orders, outcome.changes) == (0, 2, [], [])
    assert ledger.end(order) == (OrderState.PAID, NOW, [])


def test_an_event_twice_in_one_batch_is_applied_once() -> None:
    # Given a pending order
    ledger = Ledger()
    _, [(topic, paid)] = _history(ledger, ["payment-succeeded"])
    # When its payment arrives twice in its first batch
    outcome = ledger.apply(topic, [paid, paid])
    # Then it is paid once: one change, published as order-paid version 1
    assert (outcome.applied, outcome.duplicates) == (1, 1)
    assert [(c.event_type, c.version) for c in outcome.changes] == [("order-paid", 1)]


def test_a_ticket_applied_to_one_order_is_a_conflict_for_another() -> None:
    # Given two paid orders, and a ticket issued for the first
    ledger = Ledger()
    first, [(_, paid_first)] = _history(ledger, ["payment-succeeded"])
    second, [(_, paid_second)] = _history(ledger, ["payment-succeeded"])
    ledger.apply("payment-succeeded", [paid_first, paid_second])
    ticket = TicketIssued("TKT-1", first, NOW)
    ledger.apply("ticket-issued", [ticket])
    # When the same ticket id is named for the second order
    outcome = ledger.apply("ticket-issued", [replace(ticket, order_id=second)])
    # Then the second order is not fulfilled, and a person is asked to look
    assert ledger.end(second) == (OrderState.PAID, NOW, [("ticket_for_another_order", "ticket-issued")])
    assert outcome.orders == []


def test_an_event_for_an_order_the_service_does_not_know_is_refused_with_why() -> None:
    # Given no order at all
    ledger = Ledger()
    unknown = uuid.uuid4()
    # When a payment names an unknown order
    outcome = ledger.apply("payment-failed", [PaymentFailed("p1", unknown)])
    # Then it is refused, with the reason a dead letter keeps
    assert [(item.event_id, why) for item, why in outcome.refused] == [("p1", f"unknown order {unknown}")]


def test_an_id_claimed_by_another_batch_meanwhile_makes_the_batch_start_again() -> None:
    # Given an event id the claim found taken, though its snapshot cannot see by which order
    order = _pending()
    locked = Locked(orders={order.id: order}, fresh=frozenset(), applied_before={}, holders={}, seats=[])
    # When the batch is folded / Then it is to be applied again, never taken for a redelivery
    with pytest.raises(ClaimedMeanwhile):
        fold("payment-failed", [Consumed("p1", PaymentFailed("p1", order.id), 0)], locked)


def test_a_retried_payment_revives_its_order_only_while_its_seats_are_free() -> None:
    # Given two orders a payment failure cancelled, a seat of the second now in a third order
    cancelled = replace(
        _pending(), state=OrderState.CANCELLED, cancel_reason=PAYMENT_FAILED, cancelled_from=OrderState.PENDING
    )
    taken = replace(cancelled, id=uuid.uuid4())
    seat, other_seat, holder = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    locked = Locked(
        orders={cancelled.id: cancelled, taken.id: taken},
        fresh=frozenset({"p1", "p2"}),
        applied_before={},
        holders={},
        seats=[SeatHeld(cancelled.id, seat, None), SeatHeld(taken.id, other_seat, holder)],
    )
    # When a retried payment succeeds for each
    outcome = fold(
        "payment-succeeded",
        [
            Consumed("p1", PaymentSucceeded("p1", cancelled.id, cancelled.total_amount, NOW), 0),
            Consumed("p2", PaymentSucceeded("p2", taken.id, taken.total_amount, NOW), 1),
        ],
        locked,
    )
    # Then the first is paid again, and the second's payment is one to refund
    assert outcome.revived == [cancelled.id]
    assert [(o.id, o.state) for o in outcome.orders] == [(cancelled.id, OrderState.PAID)]
    assert [(c.order_id, c.kind, c.resolution) for _, _, c in outcome.conflicts] == [
        (taken.id, "payment_for_cancelled_order", "refund")
    ]

"""A batch of lifecycle events folded over the orders they name, as a pure function.

The store reads, under the orders' locks, what the batch needs (`Locked`); `fold` applies the
batch's new events in order (domain/lifecycle.py decides each one) and says what to write
(`Outcome`); the store writes it in the same transaction. Duplicates are told apart from an
id (a ticket, a payment) that comes again for another order, and who holds the seats an order
a payment failure cancelled would take back is followed as the batch cancels and revives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

from ordering.domain import lifecycle
from ordering.domain.lifecycle import Conflict, LifecycleEvent, OrderChange, OrderStatus, ReservationExpired
from ordering.domain.order import OrderState
from ordering.domain.reservation import Reservation


@dataclass(frozen=True, slots=True)
class Consumed[Source]:
    """One event of a batch by its business id (a payment id, a ticket id, a reservation id),
    with where it came from (a Kafka record), which is carried for the dead letters, not read."""

    event_id: str
    event: LifecycleEvent
    source: Source


@dataclass(frozen=True, slots=True)
class SeatHeld:
    """A seat of an order a payment failure cancelled (in the batch), and the live order that
    holds it now, if any: whether that order can be revived."""

    order_id: UUID
    seat_id: UUID
    holder: UUID | None


@dataclass(frozen=True, slots=True)
class Locked:
    """What the store read for a batch in its transaction, the orders locked."""

    orders: Mapping[UUID, OrderStatus]
    fresh: frozenset[str]  # the event ids this batch claimed
    applied_before: Mapping[str, UUID | None]  # ids consumed before: the order each went to
    holders: Mapping[UUID, Sequence[UUID]]  # a reservation's live orders
    seats: Sequence[SeatHeld]


@dataclass
class Outcome[Source]:
    applied: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, str, Conflict]] = field(default_factory=list)  # (topic, event id, conflict)
    # events that can never apply (an order this service does not know), with why
    refused: list[tuple[Consumed[Source], str]] = field(default_factory=list)
    # the reservations whose expiry this batch applied, as their events describe them
    expired: list[Reservation] = field(default_factory=list)
    # why each order cancelled by this batch was cancelled
    cancelled: dict[UUID, str] = field(default_factory=dict)
    # the orders a payment failure had cancelled that this batch made live again
    revived: list[UUID] = field(default_factory=list)
    # the orders changed, each with the version of its last change
    orders: list[OrderStatus] = field(default_factory=list)
    # the changes to publish, written to the outbox with the orders
    changes: list[OrderChange] = field(default_factory=list)


class ClaimedMeanwhile(Exception):
    """An event id another transaction claimed while this batch's claim waited for it: the claim's
    snapshot cannot see that row, so which order it went to is learnt by applying the batch again."""


class _Seats:
    """Who holds the seats a revival would take back, as the batch changes it: a seat's live
    order, as read, then as the fold cancels and revives orders."""

    def __init__(self, seats: Sequence[SeatHeld]) -> None:
        self._of: dict[UUID, set[UUID]] = {}  # an order's seats that some revival would take
        self._holder: dict[UUID, UUID] = {}
        for seat in seats:
            self._of.setdefault(seat.order_id, set()).add(seat.seat_id)
            if seat.holder is not None:
                self._of.setdefault(seat.holder, set()).add(seat.seat_id)
                self._holder[seat.seat_id] = seat.holder

    def free_for(self, order_id: UUID) -> bool:
        return all(self._holder.get(seat, order_id) == order_id for seat in self._of.get(order_id, ()))

    def follow(self, order_id: UUID, was_live: bool, is_live: bool) -> None:
        for seat in self._of.get(order_id, ()):
            if is_live and not was_live:
                self._holder[seat] = order_id
            elif was_live and not is_live and self._holder.get(seat) == order_id:
                del self._holder[seat]


def order_of(event: LifecycleEvent) -> UUID | None:
    """The order the event names; a reservation's expiry names none (its holders are looked up)."""
    return None if isinstance(event, ReservationExpired) else event.order_id


def fold[Source](topic: str, batch: Sequence[Consumed[Source]], locked: Locked) -> Outcome[Source]:
    """Apply the batch's new events, in order, to the locked orders."""
    outcome: Outcome[Source] = Outcome()
    orders = dict(locked.orders)
    seats = _Seats(locked.seats)
    fresh = set(locked.fresh)
    applied_to = dict(locked.applied_before)  # event id → the order it was applied to, as the batch goes
    for item in batch:
        event = item.event
        if item.event_id not in fresh:
            _seen_before(topic, item, applied_to, orders, outcome)
            continue
        fresh.discard(item.event_id)  # a duplicate within the batch is applied once
        applied_to[item.event_id] = order_of(event)
        if isinstance(event, ReservationExpired):
            targets = list(locked.holders.get(event.reservation_id, ()))
            if event.reservation is not None:
                outcome.expired.append(event.reservation)
        elif event.order_id in orders:
            targets = [event.order_id]
        else:
            outcome.refused.append((item, f"unknown order {event.order_id}"))
            continue
        for order_id in targets:
            was_live = orders[order_id].state != OrderState.CANCELLED
            orders[order_id], conflict = lifecycle.apply(orders[order_id], event, seats_free=seats.free_for(order_id))
            seats.follow(order_id, was_live, orders[order_id].state != OrderState.CANCELLED)
            if conflict is not None:
                outcome.conflicts.append((topic, item.event_id, conflict))
        outcome.applied += 1
    outcome.orders = [
        _account(locked.orders[order_id], order, outcome)
        for order_id, order in orders.items()
        if order != locked.orders[order_id]
    ]
    return outcome


def _seen_before[Source](
    topic: str,
    item: Consumed[Source],
    applied_to: dict[str, UUID | None],
    orders: dict[UUID, OrderStatus],
    outcome: Outcome[Source],
) -> None:
    """An event whose id was consumed already: a redelivery, or the same ticket or payment id
    named for another order, which is a conflict."""
    if item.event_id not in applied_to:
        raise ClaimedMeanwhile(item.event_id)
    event, first = item.event, applied_to[item.event_id]
    if isinstance(event, ReservationExpired) or first is None or first == event.order_id:
        outcome.duplicates += 1
    elif event.order_id in orders:
        outcome.conflicts.append(
            (topic, item.event_id, lifecycle.applied_to_another_order(orders[event.order_id], event))
        )
    else:
        outcome.refused.append((item, f"unknown order {event.order_id}"))


def _account[Source](before: OrderStatus, after: OrderStatus, outcome: Outcome[Source]) -> OrderStatus:
    """Note what a change of an order tells (its changes to publish, a cancellation, a revival);
    the order as it is written, with the version of its last change."""
    changes = lifecycle.changes_of(before, after)
    outcome.changes.extend(changes)
    was_cancelled = before.state == OrderState.CANCELLED
    if not was_cancelled and after.state == OrderState.CANCELLED and after.cancel_reason is not None:
        outcome.cancelled[after.id] = after.cancel_reason
    elif was_cancelled and after.state != OrderState.CANCELLED:
        outcome.revived.append(after.id)
    return replace(after, version=changes[-1].version) if changes else after

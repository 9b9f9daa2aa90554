"""Apply a batch of lifecycle events in one transaction and two round trips:

1. claim the events in the ledger, mark expired reservations, find and lock the orders, and
   find who holds the seats of those a payment failure cancelled;
2. write the orders as the domain folded them, with the conflicts and dead letters.

Reviving an order a payment failure cancelled takes its seats back: its items become live
again (they follow the order's liveness by foreign key), and the unique index "a seat in at
most one live order" refuses it should another order have taken one of them after step 1 read
the holders. Then the batch is rolled back and applied again, and the new holder is seen: the
payment is a refund conflict, and nothing of the first attempt remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus

from ordering.domain import lifecycle
from ordering.domain.lifecycle import (
    Conflict,
    LifecycleEvent,
    OrderEvent,
    OrderStatus,
    PaymentSucceeded,
    ReservationExpired,
    TicketIssued,
)
from ordering.domain.order import OrderState
from ordering.domain.reservation import Reservation
from ordering.observability import logger
from ordering.store import ledger
from ordering.store.ledger import DeadLetter, Delivery


@dataclass(frozen=True, slots=True)
class Consumed:
    """One record of a lifecycle topic: its business id, its event, and where it came from."""

    event_id: str
    event: LifecycleEvent
    delivery: Delivery
    # for reservation-expired: the reservation as the event describes it (a stub, should the
    # expiry overtake the reservation's creation)
    expired: Reservation | None = None


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, str, Conflict]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    expired: list[Reservation] = field(default_factory=list)
    # why each order cancelled by this batch was cancelled
    cancelled: dict[UUID, str] = field(default_factory=dict)
    # the orders a payment failure had cancelled that this batch made live again
    revived: list[UUID] = field(default_factory=list)
    # the events of the orders' changes, written to the outbox with them
    events: list[OrderEvent] = field(default_factory=list)


_EXPIRE_RESERVATIONS = """
INSERT INTO bc_ordering.reservations AS r
    (id, seat_id, customer_hash, status, created_at, expires_at, concert_event_id)
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bytea[], %b::text[], %b::timestamptz[], %b::timestamptz[],
                     %b::uuid[])
ON CONFLICT (id) DO UPDATE SET status = 'expired',
    concert_event_id = coalesce(EXCLUDED.concert_event_id, r.concert_event_id)
WHERE r.status = 'active'
"""

_HOLDERS = """
SELECT i.reservation_id, i.order_id FROM bc_ordering.order_items i
JOIN bc_ordering.orders o ON o.id = i.order_id
WHERE i.reservation_id = ANY(%s) AND o.state IN ('draft', 'pending')
"""

_LOCK_ORDERS = """
SELECT id, state, total_amount, paid_at, fulfilled_at, payment_id, cancel_reason, version, cancelled_from
FROM bc_ordering.orders
WHERE id = ANY(%s)
   OR (state IN ('draft', 'pending')
       AND id IN (SELECT order_id FROM bc_ordering.order_items WHERE reservation_id = ANY(%s)))
ORDER BY id FOR UPDATE
"""

# The seats of the orders named by the batch that a payment failure cancelled, each with the
# live order that holds it now, if any (by order_items_seat_in_one_live_order): whether such an
# order can be revived. After _LOCK_ORDERS, so that it reads the states it locked.
_SEAT_HOLDERS = """
SELECT i.order_id, i.seat_id, h.order_id
FROM bc_ordering.orders o
JOIN bc_ordering.order_items i ON i.order_id = o.id
LEFT JOIN bc_ordering.order_items h ON h.seat_id = i.seat_id AND h.order_live
WHERE o.id = ANY(%s) AND o.state = 'cancelled' AND o.cancel_reason = 'payment-failed'
"""

_WRITE_ORDERS = """
UPDATE bc_ordering.orders o
SET state = u.state, paid_at = u.paid_at, fulfilled_at = u.fulfilled_at, payment_id = u.payment_id,
    cancel_reason = u.cancel_reason, version = u.version, cancelled_from = u.cancelled_from, updated_at = %s
FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[], %b::integer[],
            %b::text[])
     AS u(id, state, paid_at, fulfilled_at, payment_id, cancel_reason, version, cancelled_from)
WHERE o.id = u.id
"""

# the events of the batch's changes, in the batch's transaction (the transactional outbox)
_WRITE_EVENTS = """
INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, reason, occurred_at)
SELECT u.order_id, u.version, u.event_type, u.state, u.total_amount, u.reason, %s
FROM unnest(%b::uuid[], %b::integer[], %b::text[], %b::text[], %b::numeric[], %b::text[])
     AS u(order_id, version, event_type, state, total_amount, reason)
"""

# what refuses a revival whose seat another order took meanwhile, and how often to try again
_SEAT_IN_ONE_LIVE_ORDER = "order_items_seat_in_one_live_order"
_ATTEMPTS = 3


class _Seats:
    """Who holds the seats a revival would take back, as the batch changes it: a seat's live
    order, from the database, then as the fold cancels and revives orders."""

    def __init__(self, rows: list[tuple[UUID, UUID, UUID | None]]) -> None:
        self._of: dict[UUID, set[UUID]] = {}  # an order's seats that some revival would take
        self._holder: dict[UUID, UUID] = {}
        for order_id, seat_id, holder in rows:
            self._of.setdefault(order_id, set()).add(seat_id)
            if holder is not None:
                self._of.setdefault(holder, set()).add(seat_id)
                self._holder[seat_id] = holder

    def free_for(self, order_id: UUID) -> bool:
        return all(self._holder.get(seat, order_id) == order_id for seat in self._of.get(order_id, ()))

    def follow(self, order_id: UUID, was_live: bool, is_live: bool) -> None:
        for seat in self._of.get(order_id, ()):
            if is_live and not was_live:
                self._holder[seat] = order_id
            elif was_live and not is_live and self._holder.get(seat) == order_id:
                del self._holder[seat]


def _order_of(event: LifecycleEvent) -> UUID | None:
    return None if isinstance(event, ReservationExpired) else event.order_id


def _fold(
    topic: str,
    *,
    batch: Sequence[Consumed],
    fresh: set[str],
    applied_before: dict[str, UUID | None],
    holders: list[tuple[UUID, UUID]],
    orders: dict[UUID, OrderStatus],
    seats: _Seats,
    outcome: Outcome,
) -> list[OrderStatus]:
    """Apply the batch's new events, in order, to the locked orders; returns the orders changed."""
    held_by: dict[UUID, list[UUID]] = {}
    for reservation_id, order_id in holders:
        held_by.setdefault(reservation_id, []).append(order_id)
    before = dict(orders)
    applied_to = dict(applied_before)  # event id → the order it was applied to, as the batch goes
    for item in batch:
        event = item.event
        if item.event_id not in fresh:
            _seen_before(topic, item, applied_to, orders, outcome)
            continue
        fresh.discard(item.event_id)  # a duplicate within the batch is applied once
        applied_to[item.event_id] = _order_of(event)
        if isinstance(event, ReservationExpired):
            targets = held_by.get(event.reservation_id, [])
            if item.expired is not None:
                outcome.expired.append(item.expired)
        elif event.order_id in orders:
            targets = [event.order_id]
        else:
            outcome.dead_letters.append(DeadLetter(item.delivery, f"unknown order {event.order_id}"))
            continue
        for order_id in targets:
            was_live = orders[order_id].state != OrderState.CANCELLED
            orders[order_id], conflict = lifecycle.apply(orders[order_id], event, seats_free=seats.free_for(order_id))
            seats.follow(order_id, was_live, orders[order_id].state != OrderState.CANCELLED)
            if conflict is not None:
                outcome.conflicts.append((topic, item.event_id, conflict))
        outcome.applied += 1
    return [
        _account(before[order_id], order, outcome) for order_id, order in orders.items() if order != before[order_id]
    ]


def _seen_before(
    topic: str, item: Consumed, applied_to: dict[str, UUID | None], orders: dict[UUID, OrderStatus], outcome: Outcome
) -> None:
    """An event whose id was consumed already: a redelivery, or the same ticket or payment id
    named for another order, which is a conflict."""
    if item.event_id not in applied_to:
        raise _ClaimedMeanwhile(item.event_id)
    event, first = item.event, applied_to[item.event_id]
    if isinstance(event, ReservationExpired) or first is None or first == event.order_id:
        outcome.duplicates += 1
    elif event.order_id in orders:
        outcome.conflicts.append(
            (topic, item.event_id, lifecycle.applied_to_another_order(orders[event.order_id], event))
        )
    else:
        outcome.dead_letters.append(DeadLetter(item.delivery, f"unknown order {event.order_id}"))


def _account(before: OrderStatus, after: OrderStatus, outcome: Outcome) -> OrderStatus:
    """Note what a change of an order tells (its events, a cancellation, a revival); the order
    as it is written, with the version of its last event."""
    events = lifecycle.events_of(before, after)
    outcome.events.extend(events)
    was_cancelled = before.state == OrderState.CANCELLED
    if not was_cancelled and after.state == OrderState.CANCELLED and after.cancel_reason is not None:
        outcome.cancelled[after.id] = after.cancel_reason
    elif was_cancelled and after.state != OrderState.CANCELLED:
        outcome.revived.append(after.id)
    return replace(after, version=events[-1].version) if events else after


def _write_orders(cursor: psycopg.Cursor[Any], orders: list[OrderStatus], now: datetime) -> None:
    if orders:
        cursor.execute(
            _WRITE_ORDERS,
            (
                now,
                [o.id for o in orders],
                [o.state.value for o in orders],
                [o.paid_at for o in orders],
                [o.fulfilled_at for o in orders],
                [o.payment_id for o in orders],
                [o.cancel_reason for o in orders],
                [o.version for o in orders],
                [o.cancelled_from.value if o.cancelled_from else None for o in orders],
            ),
        )


def _write_events(cursor: psycopg.Cursor[Any], events: list[OrderEvent], now: datetime) -> None:
    if events:
        cursor.execute(
            _WRITE_EVENTS,
            (
                now,
                [e.order_id for e in events],
                [e.version for e in events],
                [e.event_type for e in events],
                [e.state.value for e in events],
                [e.total_amount for e in events],
                [e.reason for e in events],
            ),
        )


class _ClaimedMeanwhile(Exception):
    """An event id another transaction claimed while this batch's claim waited for it: the claim's
    snapshot cannot see that row, so which order it went to is learnt by applying the batch again."""


def apply_batch(connection: psycopg.Connection[Any], topic: str, batch: Sequence[Consumed], now: datetime) -> Outcome:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _apply_once(connection, topic, batch, now)
        except _ClaimedMeanwhile:
            # a ticket or payment id consumed at the same moment on another partition (for
            # another order, or the same): never to be taken for a redelivery unseen
            if attempt == _ATTEMPTS:
                raise
            logger.warning("an event was claimed by another batch meanwhile; applying the batch again", attempt=attempt)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected) as exc:
            # a revival that lost its seat to another order (or deadlocked with another revival)
            lost_a_seat = isinstance(exc, psycopg.errors.DeadlockDetected) or (
                exc.diag.constraint_name == _SEAT_IN_ONE_LIVE_ORDER
            )
            if not lost_a_seat or attempt == _ATTEMPTS:
                raise
            logger.warning("a revived order's seat was taken meanwhile; applying the batch again", attempt=attempt)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _apply_once(connection: psycopg.Connection[Any], topic: str, batch: Sequence[Consumed], now: datetime) -> Outcome:
    outcome = Outcome()
    direct_ids = [item.event.order_id for item in batch if not isinstance(item.event, ReservationExpired)]
    # only a payment or a ticket revives an order, so only their batches ask who holds its seats
    reviving_ids = [item.event.order_id for item in batch if isinstance(item.event, PaymentSucceeded | TicketIssued)]
    reservation_ids = [item.event.reservation_id for item in batch if isinstance(item.event, ReservationExpired)]
    stubs = list({item.expired.id: item.expired for item in batch if item.expired is not None}.values())
    # An explicit transaction in one pipeline, synced twice: BEGIN and the reads travel
    # together, and the writes travel with COMMIT, so a batch costs two round trips whatever its
    # size (psycopg's transaction() would add syncs of its own).
    with (
        connection.cursor() as claims,
        connection.cursor() as holders,
        connection.cursor() as locked,
        connection.cursor() as seat_holders,
        connection.cursor() as writes,
    ):
        try:
            with connection.pipeline() as pipeline:
                writes.execute("BEGIN")
                ledger.claim(claims, topic, [(item.event_id, item.delivery, _order_of(item.event)) for item in batch])
                if stubs:
                    writes.execute(
                        _EXPIRE_RESERVATIONS,
                        (
                            [r.id for r in stubs],
                            [r.seat_id for r in stubs],
                            [r.customer_hash for r in stubs],
                            ["expired"] * len(stubs),
                            [r.created_at for r in stubs],
                            [r.expires_at for r in stubs],
                            [r.concert_event_id for r in stubs],
                        ),
                    )
                holders.execute(_HOLDERS, (reservation_ids,))
                locked.execute(_LOCK_ORDERS, (direct_ids, reservation_ids))
                if reviving_ids:
                    seat_holders.execute(_SEAT_HOLDERS, (reviving_ids,))
                pipeline.sync()
                orders = {
                    row[0]: OrderStatus(
                        row[0], OrderState(row[1]), row[2], row[3], row[4], row[5], row[6], row[7],
                        OrderState(row[8]) if row[8] else None,
                    )
                    for row in locked.fetchall()
                }  # fmt: skip
                claimed = claims.fetchall()
                fresh = {row[0] for row in claimed if row[1]}
                applied_before = {row[0]: row[2] for row in claimed if not row[1]}
                seats = _Seats(seat_holders.fetchall() if reviving_ids else [])
                changed = _fold(
                    topic,
                    batch=batch,
                    fresh=fresh,
                    applied_before=applied_before,
                    holders=holders.fetchall(),
                    orders=orders,
                    seats=seats,
                    outcome=outcome,
                )
                # the revived orders last, once the orders this batch cancelled have freed their seats
                revived = set(outcome.revived)
                _write_orders(writes, [o for o in changed if o.id not in revived], now)
                _write_orders(writes, [o for o in changed if o.id in revived], now)
                _write_events(writes, outcome.events, now)
                ledger.record_conflicts(writes, outcome.conflicts)
                ledger.record_dead_letters(writes, outcome.dead_letters)
                writes.execute("COMMIT")
        except BaseException:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
            raise
    return outcome

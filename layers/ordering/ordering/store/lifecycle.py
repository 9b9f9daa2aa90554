"""Apply a batch of lifecycle events in one transaction and two round trips:

1. claim the events in the ledger, mark expired reservations, find and lock the orders;
2. write the orders as the domain folded them, with the conflicts and dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus

from ordering.domain import lifecycle
from ordering.domain.lifecycle import Conflict, LifecycleEvent, OrderStatus, ReservationExpired
from ordering.domain.order import OrderState
from ordering.domain.reservation import Reservation
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
SELECT id, state, total_amount, paid_at, fulfilled_at, payment_id FROM bc_ordering.orders
WHERE id = ANY(%s)
   OR (state IN ('draft', 'pending')
       AND id IN (SELECT order_id FROM bc_ordering.order_items WHERE reservation_id = ANY(%s)))
ORDER BY id FOR UPDATE
"""

_WRITE_ORDERS = """
UPDATE bc_ordering.orders o
SET state = u.state, paid_at = u.paid_at, fulfilled_at = u.fulfilled_at, payment_id = u.payment_id,
    cancel_reason = coalesce(u.cancel_reason, o.cancel_reason), updated_at = %s
FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[])
     AS u(id, state, paid_at, fulfilled_at, payment_id, cancel_reason)
WHERE o.id = u.id
"""


def _fold(
    topic: str,
    *,
    batch: Sequence[Consumed],
    fresh: set[str],
    holders: list[tuple[UUID, UUID]],
    orders: dict[UUID, OrderStatus],
    outcome: Outcome,
) -> list[OrderStatus]:
    """Apply the batch's new events, in order, to the locked orders; returns the orders changed."""
    held_by: dict[UUID, list[UUID]] = {}
    for reservation_id, order_id in holders:
        held_by.setdefault(reservation_id, []).append(order_id)
    before = dict(orders)
    for item in batch:
        if item.event_id not in fresh:
            outcome.duplicates += 1
            continue
        fresh.discard(item.event_id)  # a duplicate within the batch is applied once
        event = item.event
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
            was_cancelled = orders[order_id].state == OrderState.CANCELLED
            orders[order_id], conflict = lifecycle.apply(orders[order_id], event)
            if not was_cancelled and orders[order_id].state == OrderState.CANCELLED:
                outcome.cancelled[order_id] = (
                    "reservation-expired" if isinstance(event, ReservationExpired) else "payment-failed"
                )
            if conflict is not None:
                outcome.conflicts.append((topic, item.event_id, conflict))
        outcome.applied += 1
    return [order for order_id, order in orders.items() if order != before[order_id]]


def apply_batch(connection: psycopg.Connection[Any], topic: str, batch: Sequence[Consumed], now: datetime) -> Outcome:
    outcome = Outcome()
    direct_ids = [item.event.order_id for item in batch if not isinstance(item.event, ReservationExpired)]
    reservation_ids = [item.event.reservation_id for item in batch if isinstance(item.event, ReservationExpired)]
    stubs = list({item.expired.id: item.expired for item in batch if item.expired is not None}.values())
    # An explicit transaction in one pipeline, synced twice: BEGIN and the reads travel
    # together, and the writes travel with COMMIT, so a batch costs two round trips whatever its
    # size (psycopg's transaction() would add syncs of its own).
    with (
        connection.cursor() as claims,
        connection.cursor() as holders,
        connection.cursor() as locked,
        connection.cursor() as writes,
    ):
        try:
            with connection.pipeline() as pipeline:
                writes.execute("BEGIN")
                ledger.claim(claims, topic, [(item.event_id, item.delivery) for item in batch])
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
                pipeline.sync()
                orders = {
                    row[0]: OrderStatus(row[0], OrderState(row[1]), row[2], row[3], row[4], row[5])
                    for row in locked.fetchall()
                }
                fresh = {row[0] for row in claims.fetchall()}
                changed = _fold(
                    topic, batch=batch, fresh=fresh, holders=holders.fetchall(), orders=orders, outcome=outcome
                )
                if changed:
                    writes.execute(
                        _WRITE_ORDERS,
                        (
                            now,
                            [o.id for o in changed],
                            [o.state.value for o in changed],
                            [o.paid_at for o in changed],
                            [o.fulfilled_at for o in changed],
                            [o.payment_id for o in changed],
                            [outcome.cancelled.get(o.id) for o in changed],
                        ),
                    )
                ledger.record_conflicts(writes, outcome.conflicts)
                ledger.record_dead_letters(writes, outcome.dead_letters)
                writes.execute("COMMIT")
        except BaseException:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
            raise
    return outcome

"""The lifecycle's storage: a batch's transaction, in one pipeline and two round trips.

1. `claim_lock_and_read`: claim the events in the ledger, mark expired reservations, find and
   lock the orders, and find who holds the seats of those a payment failure cancelled;
2. `write_and_commit`: write the orders as the domain folded them (domain/batch.py), with the
   changes to publish, the conflicts and dead letters.

Reviving an order a payment failure cancelled takes its seats back: its items become live
again (they follow the order's liveness by foreign key), and the unique index "a seat in at
most one live order" refuses it should another order have taken one of them after step 1 read
the holders. Then the transaction is rolled back and `SeatTakenMeanwhile` raised, for the batch
to be applied again (usecases/apply_lifecycle.py), when the new holder is seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row, dict_row, kwargs_row

from ordering.domain.batch import Consumed, Locked, Outcome, SeatHeld, order_of
from ordering.domain.lifecycle import (
    PAYMENT_FAILED,
    OrderChange,
    OrderStatus,
    PaymentSucceeded,
    ReservationExpired,
    TicketIssued,
)
from ordering.domain.order import CANCELLABLE, OrderState
from ordering.store import ledger
from ordering.store.ledger import DeadLetter, Delivery
from ordering.store.orders import literals

_EXPIRE_RESERVATIONS = """
INSERT INTO bc_ordering.reservations AS r
    (id, seat_id, customer_hash, status, created_at, expires_at, concert_event_id)
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bytea[], %b::text[], %b::timestamptz[], %b::timestamptz[],
                     %b::uuid[])
ON CONFLICT (id) DO UPDATE SET status = 'expired',
    concert_event_id = coalesce(EXCLUDED.concert_event_id, r.concert_event_id)
WHERE r.status = 'active'
"""

_HOLDERS = f"""
SELECT i.reservation_id, i.order_id FROM bc_ordering.order_items i
JOIN bc_ordering.orders o ON o.id = i.order_id
WHERE i.reservation_id = ANY(%s) AND o.state IN ({literals(*CANCELLABLE)})
"""

# The orders a batch changes, locked in id order: those its events name, and the cancellable ones
# holding a reservation it expires. The ids are gathered first and the orders found by them: an
# OR of the two kinds made PostgreSQL scan the whole table (64 ms at 379,000 orders against
# 1.1 ms, make capacity), in every payment, ticket and expiry batch, growing with every sale.
_LOCK_ORDERS = f"""
SELECT id, state, total_amount, paid_at, fulfilled_at, payment_id, cancel_reason, version, cancelled_from
FROM bc_ordering.orders
WHERE id IN (SELECT unnest(%(named)s::uuid[])
             UNION ALL
             SELECT order_id FROM bc_ordering.order_items WHERE reservation_id = ANY(%(expiring)s))
  AND (id = ANY(%(named)s) OR state IN ({literals(*CANCELLABLE)}))
ORDER BY id FOR UPDATE
"""

# The seats of the orders named by the batch that a payment failure cancelled, each with the
# live order that holds it now, if any (by order_items_seat_in_one_live_order): whether such an
# order can be revived. After _LOCK_ORDERS, so that it reads the states it locked.
_SEAT_HOLDERS = f"""
SELECT i.order_id, i.seat_id, h.order_id AS holder
FROM bc_ordering.orders o
JOIN bc_ordering.order_items i ON i.order_id = o.id
LEFT JOIN bc_ordering.order_items h ON h.seat_id = i.seat_id AND h.order_live
WHERE o.id = ANY(%s) AND o.state = {literals(OrderState.CANCELLED)} AND o.cancel_reason = '{PAYMENT_FAILED}'
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

# the changes to publish, in the batch's transaction (the transactional outbox)
_WRITE_CHANGES = """
INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, reason, occurred_at)
SELECT u.order_id, u.version, u.event_type, u.state, u.total_amount, u.reason, %s
FROM unnest(%b::uuid[], %b::integer[], %b::text[], %b::text[], %b::numeric[], %b::text[])
     AS u(order_id, version, event_type, state, total_amount, reason)
"""

# what refuses a revival whose seat another order took meanwhile
_SEAT_IN_ONE_LIVE_ORDER = "order_items_seat_in_one_live_order"


class SeatTakenMeanwhile(Exception):
    """A revived order's seat was taken by another order after the batch read its holders (or two
    revivals deadlocked): nothing was written; the batch is to be applied again."""


def _order_status(*, cancelled_from: str | None, state: str, **columns: Any) -> OrderStatus:
    return OrderStatus(
        state=OrderState(state), cancelled_from=OrderState(cancelled_from) if cancelled_from else None, **columns
    )


class BatchTransaction:
    """A batch's explicit transaction in one pipeline, synced twice: BEGIN and the reads travel
    together, and the writes travel with COMMIT, so a batch costs two round trips whatever its
    size (psycopg's transaction() would add syncs of its own)."""

    def __init__(self, connection: psycopg.Connection[Any], pipeline: psycopg.Pipeline, writes: psycopg.Cursor[Any]):
        self._connection, self._pipeline, self._writes = connection, pipeline, writes

    def claim_lock_and_read(self, topic: str, batch: Sequence[Consumed[Delivery]]) -> Locked:
        events = [item.event for item in batch]
        direct_ids = [order_of(event) for event in events if not isinstance(event, ReservationExpired)]
        # only a payment or a ticket revives an order, so only their batches ask who holds its seats
        reviving_ids = [event.order_id for event in events if isinstance(event, PaymentSucceeded | TicketIssued)]
        expired = [event for event in events if isinstance(event, ReservationExpired)]
        stubs = list({e.reservation.id: e.reservation for e in expired if e.reservation is not None}.values())
        connection = self._connection
        with (
            connection.cursor(row_factory=dict_row) as claims,
            connection.cursor(row_factory=dict_row) as holders,
            connection.cursor(row_factory=kwargs_row(_order_status)) as locked,
            connection.cursor(row_factory=class_row(SeatHeld)) as seats,
        ):
            self._writes.execute("BEGIN")
            ledger.claim(claims, topic, [(item.event_id, item.source, order_of(item.event)) for item in batch])
            if stubs:
                self._writes.execute(
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
            reservation_ids = [event.reservation_id for event in expired]
            holders.execute(_HOLDERS, (reservation_ids,))
            locked.execute(_LOCK_ORDERS, {"named": direct_ids, "expiring": reservation_ids})
            if reviving_ids:
                seats.execute(_SEAT_HOLDERS, (reviving_ids,))
            self._pipeline.sync()
            claimed = claims.fetchall()
            held_by: dict[UUID, list[UUID]] = {}
            for row in holders.fetchall():
                held_by.setdefault(row["reservation_id"], []).append(row["order_id"])
            return Locked(
                orders={order.id: order for order in locked.fetchall()},
                fresh=frozenset(row["event_id"] for row in claimed if row["fresh"]),
                applied_before={row["event_id"]: row["order_id"] for row in claimed if not row["fresh"]},
                holders=held_by,
                seats=seats.fetchall() if reviving_ids else [],
            )

    def write_and_commit(self, outcome: Outcome[Delivery], dead_letters: Sequence[DeadLetter], now: datetime) -> None:
        # the revived orders last, once the orders this batch cancelled have freed their seats:
        # the unique index is checked row by row, statement by statement
        revived = set(outcome.revived)
        _write_orders(self._writes, [o for o in outcome.orders if o.id not in revived], now)
        _write_orders(self._writes, [o for o in outcome.orders if o.id in revived], now)
        _write_changes(self._writes, outcome.changes, now)
        ledger.record_conflicts(self._writes, outcome.conflicts)
        ledger.record_dead_letters(self._writes, dead_letters)
        self._writes.execute("COMMIT")


@contextmanager
def batch_transaction(connection: psycopg.Connection[Any]) -> Iterator[BatchTransaction]:
    """The batch's transaction: committed by `write_and_commit`, rolled back on any failure."""
    with connection.cursor() as writes:
        try:
            with connection.pipeline() as pipeline:
                yield BatchTransaction(connection, pipeline, writes)
        except BaseException as exc:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
            lost_a_seat = isinstance(exc, psycopg.errors.DeadlockDetected) or (
                isinstance(exc, psycopg.errors.UniqueViolation) and exc.diag.constraint_name == _SEAT_IN_ONE_LIVE_ORDER
            )
            if lost_a_seat:
                raise SeatTakenMeanwhile() from exc
            raise


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


def _write_changes(cursor: psycopg.Cursor[Any], changes: list[OrderChange], now: datetime) -> None:
    if changes:
        cursor.execute(
            _WRITE_CHANGES,
            (
                now,
                [c.order_id for c in changes],
                [c.version for c in changes],
                [c.event_type for c in changes],
                [c.state.value for c in changes],
                [c.total_amount for c in changes],
                [c.reason for c in changes],
            ),
        )

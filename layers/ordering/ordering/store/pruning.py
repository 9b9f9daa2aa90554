"""Deleting what no one needs any more, a batch at a time: each batch is one short statement
(its own transaction), so pruning never holds locks for long or blocks the live service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

# Each statement deletes at most %(batch)s rows and says how many.
_PRUNE = {
    # consumed events past the topics' retention can never be delivered again
    "consumed_events": """
        DELETE FROM bc_ordering.consumed_events e USING (
            SELECT topic, event_id FROM bc_ordering.consumed_events WHERE consumed_at < %(before)s
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED) doomed
        WHERE e.topic = doomed.topic AND e.event_id = doomed.event_id
    """,
    # expired reservations that no order item refers to
    "reservations": """
        DELETE FROM bc_ordering.reservations r WHERE r.id IN (
            SELECT x.id FROM bc_ordering.reservations x
            WHERE x.expires_at < %(before)s
              AND NOT EXISTS (SELECT 1 FROM bc_ordering.order_items i WHERE i.reservation_id = x.id)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    """,
    "dead_letters": """
        DELETE FROM bc_ordering.dead_letters WHERE id IN (
            SELECT id FROM bc_ordering.dead_letters WHERE recorded_at < %(before)s
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    """,
    # Idempotency-Key records past their expiry (Powertools writes it, in epoch seconds)
    "idempotency_records": """
        DELETE FROM bc_ordering.idempotency_records WHERE id IN (
            SELECT id FROM bc_ordering.idempotency_records
            WHERE expiry_timestamp < extract(epoch FROM %(before)s::timestamptz)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    """,
    # carts no one touched for that long (their reservations expired long ago), with their
    # items; a draft with a recorded conflict stays, for the person who reviews it. `state =
    # 'draft'` as the predicate of orders_drafts_by_age (the partial index this walks) spells it
    "abandoned_drafts": """
        WITH doomed AS (
            SELECT o.id FROM bc_ordering.orders o
            WHERE o.state = 'draft' AND o.updated_at < %(before)s
              AND NOT EXISTS (SELECT 1 FROM bc_ordering.order_conflicts c WHERE c.order_id = o.id)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED
        ), items AS (
            DELETE FROM bc_ordering.order_items WHERE order_id IN (SELECT id FROM doomed)
        )
        DELETE FROM bc_ordering.orders WHERE id IN (SELECT id FROM doomed)
    """,
    # events published that long ago: the topics have them (and keep them as long as they do)
    "outbox": """
        DELETE FROM bc_ordering.outbox WHERE id IN (
            SELECT id FROM bc_ordering.outbox WHERE published_at < %(before)s
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    """,
}
KINDS = tuple(_PRUNE)


def prune_batch(connection: psycopg.Connection[Any], kind: str, before: datetime, batch: int) -> int:
    """Delete up to `batch` rows of `kind` older than `before`; returns how many went."""
    cursor = connection.execute(_PRUNE[kind], {"before": before, "batch": batch})
    return cursor.rowcount

"""The outbox, as the relay reads it: claim the next events, mark the published ones.

Claiming takes each order's oldest unpublished event only, and locks it (FOR UPDATE SKIP
LOCKED): relays running at once never take the same event, and never two events of one order,
so an order's events reach Kafka in their order whatever the number of relays. An event is
marked published in the claim's transaction, once the broker acknowledged it; a relay that
dies before marking leaves it to be published again (at least once, with the same eventId).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import set_json_loads

_CLAIM = """
SELECT e.id AS row_id, e.event_id, e.order_id, e.version, e.event_type, e.state, e.total_amount, e.reason,
       e.occurred_at, o.owner_key, o.user_id,
       CASE WHEN e.event_type = 'order-checked-out' THEN (
           SELECT coalesce(json_agg(json_build_object(
               'seatId', i.seat_id, 'reservationId', i.reservation_id, 'price', i.price,
               'seatNumber', i.seat_number, 'section', i.section) ORDER BY i.created_at, i.id), '[]')
           FROM bc_ordering.order_items i WHERE i.order_id = e.order_id) END AS items
FROM bc_ordering.outbox e
LEFT JOIN bc_ordering.orders o ON o.id = e.order_id
WHERE e.published_at IS NULL
  -- an order's events leave in order: its earliest unpublished one only. A scalar subquery is
  -- never made a join, so it is one probe of outbox_unpublished per row whatever the statistics
  -- say; as NOT EXISTS, statistics taken while nothing waited (the usual) planned a nested loop
  -- over every waiting event for each, and a backlog of 10,000 took 18 s: past the statement
  -- timeout, so a relay could never drain the backlog an outage of the broker left
  AND e.id = (
      SELECT min(earlier.id) FROM bc_ordering.outbox earlier
      WHERE earlier.order_id = e.order_id AND earlier.published_at IS NULL)
ORDER BY e.id
LIMIT %s
FOR UPDATE OF e SKIP LOCKED
"""


def _exact_json(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


_MARK = "UPDATE bc_ordering.outbox SET published_at = %s WHERE id = ANY(%s)"

_BACKLOG = "SELECT count(*) AS waiting, min(occurred_at) AS oldest FROM bc_ordering.outbox WHERE published_at IS NULL"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An outbox row with what its payload needs (an order-checked-out's items and owner)."""

    row_id: int
    event_id: UUID
    order_id: UUID
    version: int
    event_type: str
    state: str
    total_amount: Decimal
    reason: str | None
    occurred_at: datetime
    owner_key: str | None
    user_id: str | None
    items: list[dict[str, Any]] | None


def claim(connection: psycopg.Connection[Any], limit: int) -> list[PendingEvent]:
    """Begin a transaction and lock the next events (the caller marks and commits, or rolls back)."""
    with connection.cursor(row_factory=class_row(PendingEvent)) as cursor, connection.pipeline():
        set_json_loads(_exact_json, cursor)  # the items' prices as Decimal, never a float
        cursor.execute("BEGIN")
        cursor.execute(_CLAIM, (limit,))
        return cursor.fetchall()


def mark_published(connection: psycopg.Connection[Any], row_ids: Sequence[int], now: datetime) -> None:
    """Mark them and commit, in one round trip; the claim's locks go with the commit."""
    with connection.cursor() as cursor, connection.pipeline():
        if row_ids:
            cursor.execute(_MARK, (now, list(row_ids)))
        cursor.execute("COMMIT")


def backlog(connection: psycopg.Connection[Any]) -> tuple[int, datetime | None]:
    """How many events wait, and when the oldest of them happened."""
    row = connection.cursor(row_factory=dict_row).execute(_BACKLOG).fetchone()
    return (row["waiting"], row["oldest"]) if row else (0, None)

"""The copy of the Catalog's seat prices in PostgreSQL (bc_ordering.seat_prices), the events it
holds, and the one row that says when it was last refreshed and whether a refresh is under way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row, scalar_row

from ordering.domain.pricing import SeatPrice

# rows per statement when a seat map is written (a stadium's is 60,000 seats)
CHUNK = 5000

_UPSERT_SEATS = """
INSERT INTO bc_ordering.seat_prices AS p (seat_id, event_id, section_code, price, refreshed_at)
SELECT DISTINCT ON (seat_id) seat_id, event_id, section_code, price, %s
FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::numeric[]) AS t(seat_id, event_id, section_code, price)
ON CONFLICT (seat_id) DO UPDATE SET event_id = EXCLUDED.event_id, section_code = EXCLUDED.section_code,
    price = EXCLUDED.price, refreshed_at = EXCLUDED.refreshed_at
"""

_UPSERT_EVENT = """
INSERT INTO bc_ordering.catalog_events (event_id, event_name, refreshed_at) VALUES (%s, %s, %s)
ON CONFLICT (event_id) DO UPDATE SET event_name = EXCLUDED.event_name, refreshed_at = EXCLUDED.refreshed_at
"""


def keep_seatmap(
    connection: psycopg.Connection[Any],
    event_id: UUID,
    event_name: str | None,
    seats: Sequence[SeatPrice],
    now: datetime,
) -> None:
    """Write one event's seat prices and the event, in one transaction, pipelined."""
    with connection.transaction(), connection.pipeline(), connection.cursor() as cursor:
        for start in range(0, len(seats), CHUNK):
            chunk = seats[start : start + CHUNK]
            cursor.execute(
                _UPSERT_SEATS,
                (
                    now,
                    [s.seat_id for s in chunk],
                    [s.event_id for s in chunk],
                    [s.section_code for s in chunk],
                    [s.price for s in chunk],
                ),
            )
        cursor.execute(_UPSERT_EVENT, (event_id, event_name, now))
        # the seats the event's map no longer lists (or no longer prices) are priced no more
        cursor.execute("DELETE FROM bc_ordering.seat_prices WHERE event_id = %s AND refreshed_at < %s", (event_id, now))


def known_events(connection: psycopg.Connection[Any]) -> set[UUID]:
    return set(connection.cursor(row_factory=scalar_row).execute("SELECT event_id FROM bc_ordering.catalog_events"))


def refreshed(connection: psycopg.Connection[Any], now: datetime) -> None:
    """A complete refresh ended now (every event the Catalog lists was read)."""
    connection.execute("UPDATE bc_ordering.catalog_refreshes SET refreshed_at = %s", (now,))


def last_refresh(connection: psycopg.Connection[Any]) -> datetime | None:
    read = connection.cursor(row_factory=scalar_row)
    refreshed_at: datetime | None = read.execute("SELECT refreshed_at FROM bc_ordering.catalog_refreshes").fetchone()
    return refreshed_at


def lease_refresh(connection: psycopg.Connection[Any], holder: UUID, now: datetime, lease: timedelta) -> bool:
    """Take the refresh on a miss for `lease`, unless another holder has it (or its row is locked:
    never wait on it)."""
    row = connection.execute(
        "UPDATE bc_ordering.catalog_refreshes SET leased_until = %(until)s, leased_by = %(holder)s"
        " WHERE id IN (SELECT id FROM bc_ordering.catalog_refreshes"
        "              WHERE leased_until IS NULL OR leased_until <= %(now)s FOR UPDATE SKIP LOCKED)"
        " RETURNING true",
        {"now": now, "until": now + lease, "holder": holder},
    ).fetchone()
    return row is not None


def end_lease(connection: psycopg.Connection[Any], holder: UUID) -> None:
    """Give the lease back, if `holder` still has it (it may have run out and gone to another)."""
    connection.execute(
        "UPDATE bc_ordering.catalog_refreshes SET leased_until = NULL, leased_by = NULL WHERE leased_by = %s",
        (holder,),
    )


def waiting_on(connection: psycopg.Connection[Any], seat_id: UUID, now: datetime) -> tuple[Decimal | None, bool]:
    """The seat's price as the copy has it now, and whether a refresh still holds the lease."""
    row = (
        connection.cursor(row_factory=dict_row)
        .execute(
            "SELECT (SELECT price FROM bc_ordering.seat_prices WHERE seat_id = %s) AS price,"
            " coalesce(leased_until > %s, false) AS under_way FROM bc_ordering.catalog_refreshes",
            (seat_id, now),
        )
        .fetchone()
    )
    return (row["price"], row["under_way"]) if row else (None, False)

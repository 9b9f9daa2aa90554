"""Reservations in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from ordering.domain.reservation import ACTIVE, Reservation

if TYPE_CHECKING:  # the API functions import this module; the consumers' ledger is not theirs
    from ordering.store.ledger import Delivery

_COLUMNS = "id, seat_id, customer_hash, seat_number, section, base_price, status, created_at, expires_at"
# the reservation's columns, and whether its customer id is a user id seen signed in: a
# Reservation's fields, by name
_READ = (
    f"SELECT {_COLUMNS}, EXISTS (SELECT 1 FROM bc_ordering.known_users k WHERE k.user_hash = r.customer_hash)"
    " AS for_known_user FROM bc_ordering.reservations r"
)


def _reading(connection: psycopg.Connection[Any]) -> psycopg.Cursor[Reservation]:
    """A cursor whose rows are Reservations, by column name (as _READ names them)."""
    return connection.cursor(row_factory=class_row(Reservation))


def find(connection: psycopg.Connection[Any], reservation_id: UUID) -> Reservation | None:
    return _reading(connection).execute(f"{_READ} WHERE r.id = %s", (reservation_id,)).fetchone()


def find_live_for_seat(
    connection: psycopg.Connection[Any], seat_id: UUID, customer_hash: bytes, now: datetime
) -> tuple[Reservation | None, bool]:
    """The caller's live reservation of the seat, and whether someone else holds one."""
    live = (
        _reading(connection)
        .execute(
            f"{_READ} WHERE r.seat_id = %s AND r.status = 'active' AND r.expires_at > %s ORDER BY r.created_at DESC",
            (seat_id, now),
        )
        .fetchall()
    )
    mine = next((r for r in live if r.customer_hash == customer_hash), None)
    return mine, mine is None and bool(live)


def record_created(
    connection: psycopg.Connection[Any], topic: str, created: Sequence[tuple[Delivery, Reservation]]
) -> list[Reservation]:
    """Store new reservations and mark their events consumed, in one statement; returns those
    stored now and still active (a redelivery, or one whose expiry came first, is not)."""
    if not created:
        return []
    rows = (
        connection.cursor(row_factory=dict_row)
        .execute(
            """
        WITH incoming AS (
            SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bytea[], %b::text[], %b::text[], %b::numeric[],
                                 %b::text[], %b::timestamptz[], %b::timestamptz[], %b::int[], %b::bigint[])
                AS t(id, seat_id, customer_hash, seat_number, section, base_price, status, created_at, expires_at,
                     kafka_partition, kafka_offset)
        ), claimed AS (
            INSERT INTO bc_ordering.consumed_events (topic, event_id, kafka_partition, kafka_offset)
            SELECT %s, id::text, kafka_partition, kafka_offset FROM incoming
            ON CONFLICT DO NOTHING RETURNING event_id
        )
        INSERT INTO bc_ordering.reservations
            (id, seat_id, customer_hash, seat_number, section, base_price, status, created_at, expires_at)
        SELECT DISTINCT ON (i.id) i.id, i.seat_id, i.customer_hash, i.seat_number, i.section, i.base_price,
               i.status, i.created_at, i.expires_at
        FROM incoming i JOIN claimed c ON c.event_id = i.id::text
        -- an expiry that overtook the creation left a stub: fill in what it did not know
        ON CONFLICT (id) DO UPDATE SET seat_number = EXCLUDED.seat_number, section = EXCLUDED.section,
            base_price = EXCLUDED.base_price, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
            WHERE reservations.status = 'expired'
        RETURNING id, status
        """,
            (
                [r.id for _, r in created],
                [r.seat_id for _, r in created],
                [r.customer_hash for _, r in created],
                [r.seat_number for _, r in created],
                [r.section for _, r in created],
                [r.base_price for _, r in created],
                [r.status for _, r in created],
                [r.created_at for _, r in created],
                [r.expires_at for _, r in created],
                [d.partition for d, _ in created],
                [d.offset for d, _ in created],
                topic,
            ),
        )
        .fetchall()
    )
    active = {row["id"] for row in rows if row["status"] == ACTIVE}
    return list({r.id: r for _, r in created if r.id in active}.values())

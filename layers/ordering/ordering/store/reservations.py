"""Reservations in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from ordering.domain.reservation import Reservation

_COLUMNS = "id, seat_id, customer_hash, seat_number, section, base_price, status, created_at, expires_at"


def reservation_from_row(row: Sequence[Any]) -> Reservation:
    return Reservation(
        id=row[0],
        seat_id=row[1],
        customer_hash=bytes(row[2]),
        seat_number=row[3],
        section=row[4],
        base_price=row[5],
        status=row[6],
        created_at=row[7],
        expires_at=row[8],
    )


def find(connection: psycopg.Connection[Any], reservation_id: UUID) -> Reservation | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM bc_ordering.reservations WHERE id = %s", (reservation_id,)
    ).fetchone()
    return reservation_from_row(row) if row else None


def find_live_for_seat(
    connection: psycopg.Connection[Any], seat_id: UUID, customer_hashes: list[bytes], now: datetime
) -> tuple[Reservation | None, bool]:
    """The caller's live reservation of the seat, and whether someone else holds one."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM bc_ordering.reservations"
        " WHERE seat_id = %s AND status = 'active' AND expires_at > %s"
        " ORDER BY created_at DESC",
        (seat_id, now),
    ).fetchall()
    live = [reservation_from_row(row) for row in rows]
    mine = next((r for r in live if r.customer_hash in customer_hashes), None)
    return mine, mine is None and bool(live)


def record_created(connection: psycopg.Connection[Any], reservations: Sequence[Reservation]) -> set[UUID]:
    """Store new reservations in one statement; returns the ids that were new (duplicates are no-ops)."""
    if not reservations:
        return set()
    rows = connection.execute(
        "INSERT INTO bc_ordering.reservations"
        " (id, seat_id, customer_hash, seat_number, section, base_price, status, created_at, expires_at)"
        " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::bytea[], %s::text[], %s::text[],"
        " %s::numeric[], %s::text[], %s::timestamptz[], %s::timestamptz[])"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        (
            [r.id for r in reservations],
            [r.seat_id for r in reservations],
            [r.customer_hash for r in reservations],
            [r.seat_number for r in reservations],
            [r.section for r in reservations],
            [r.base_price for r in reservations],
            [r.status for r in reservations],
            [r.created_at for r in reservations],
            [r.expires_at for r in reservations],
        ),
    ).fetchall()
    return {row[0] for row in rows}

"""What an on-sale must never break, checked against the database: a plain function of a database
URL (and of Inventory's record of its grants, where the check needs it) that names each invariant
and lists what breaks it, so that a test can hand it a database with a double sale and see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.load import INVARIANTS as LOAD_INVARIANTS

SEAT_IN_TWO_LIVE_ORDERS = "a seat in two live orders"
PAID_SEAT_SOLD_TWICE = "a paid seat sold twice"
PAID_SEAT_NOT_GRANTED = "a paid seat Inventory did not grant to that order's customer"
RESERVATION_NOT_AS_PRODUCED = "a granted reservation not where its events say"
# not of the database: the scenario adds them from the answers it got, and from its own tasks
NO_5XX = "a request answered 5xx, or not at all"
NO_FAILED_TASK = "a customer or a stand-in stopped on an error"

# the live-seat rule is the one above, with the seats named; the load's others as they are
_COUNTED = {name: sql for name, sql in LOAD_INVARIANTS.items() if name != SEAT_IN_TWO_LIVE_ORDERS}

_LIVE_TWICE = (
    "SELECT seat_id::text, array_agg(order_id::text ORDER BY order_id) FROM bc_ordering.order_items"
    " WHERE order_live GROUP BY seat_id HAVING count(*) > 1"
)
_PAID_ITEMS = (
    "SELECT i.seat_id::text, i.reservation_id::text, o.id::text, o.user_id FROM bc_ordering.order_items i"
    " JOIN bc_ordering.orders o ON o.id = i.order_id WHERE o.state IN ('paid', 'fulfilled')"
)


@dataclass(frozen=True, slots=True)
class Grant:
    """A reservation as Inventory granted it, and the status its last event gave it."""

    reservation_id: str
    seat_id: str
    customer_id: str
    status: str  # "active" (reservation-created only) or "expired" (reservation-expired produced)


def seats_in_two_live_orders(connection: psycopg.Connection[Any]) -> list[str]:
    return [f"seat {seat} in orders {', '.join(orders)}" for seat, orders in connection.execute(_LIVE_TWICE)]


def violations(connection: psycopg.Connection[Any], grants: Mapping[str, Grant] | None) -> dict[str, list[str]]:
    """Every invariant by name, with what breaks it (empty: it holds). Without `grants` (a stage
    whose Inventory is not ours), the two checks that need Inventory's record are left out; with
    them, a paid seat is checked against them when it is one of the seats they granted."""
    found: dict[str, list[str]] = {SEAT_IN_TWO_LIVE_ORDERS: seats_in_two_live_orders(connection)}
    for name, sql in _COUNTED.items():
        row = connection.execute(sql).fetchone()
        found[name] = [f"{row[0]} rows"] if row and row[0] else []
    paid = connection.execute(_PAID_ITEMS).fetchall()
    orders_by_seat: dict[str, list[str]] = {}
    for seat, _, order, _ in paid:
        orders_by_seat.setdefault(seat, []).append(order)
    found[PAID_SEAT_SOLD_TWICE] = [
        f"seat {seat} paid in orders {', '.join(sorted(orders))}"
        for seat, orders in orders_by_seat.items()
        if len(orders) > 1
    ]
    if grants is None:
        return found
    # the seats this Inventory handed out: a database may hold other sales too (a stage's)
    granted_seats = {grant.seat_id for grant in grants.values()}
    found[PAID_SEAT_NOT_GRANTED] = [
        f"seat {seat} of order {order} (customer {customer}) by reservation {reservation}"
        for seat, reservation, order, customer in paid
        if seat in granted_seats
        and ((grant := grants.get(reservation)) is None or (grant.seat_id, grant.customer_id) != (seat, customer))
    ]
    stored = dict(
        connection.execute(
            "SELECT id::text, status FROM bc_ordering.reservations WHERE id = ANY(%s::uuid[])", (list(grants),)
        ).fetchall()
    )
    found[RESERVATION_NOT_AS_PRODUCED] = [
        f"reservation {grant.reservation_id}: produced {grant.status}, stored {stored.get(grant.reservation_id)}"
        for grant in grants.values()
        if stored.get(grant.reservation_id) != grant.status
    ]
    return found


def check(database_url: str, grants: Mapping[str, Grant] | None = None) -> dict[str, list[str]]:
    """The invariants of the database at `database_url` (see violations)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        return violations(connection, grants)


# what the database's checks report, by name (the scenario's "not checked" without a database)
NAMES = (SEAT_IN_TWO_LIVE_ORDERS, *_COUNTED, PAID_SEAT_SOLD_TWICE, PAID_SEAT_NOT_GRANTED, RESERVATION_NOT_AS_PRODUCED)


def broken(found: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: problems for name, problems in found.items() if problems}

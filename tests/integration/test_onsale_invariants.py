"""The on-sale's invariant checks (bench/onsale/invariants.py) against databases in a known state:
one the service made, and one with a double sale, which only a database without the service's
unique index can hold (a scratch database of this test's own, dropped afterwards)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bench.onsale.invariants import (
    PAID_SEAT_NOT_GRANTED,
    PAID_SEAT_SOLD_TWICE,
    RESERVATION_NOT_AS_PRODUCED,
    SEAT_IN_TWO_LIVE_ORDERS,
    Grant,
    broken,
    check,
)
from ordering_local.runner import migrate_database
from tests.support import USER, Service, payment_succeeded

SCRATCH_DATABASE = "ordering_invariants_scratch"


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """A database of the service's schema on the tests' server, dropped at the end: the shared
    test database keeps its unique index whatever this test does."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {SCRATCH_DATABASE}")
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{SCRATCH_DATABASE}"))
    migrate_database(url)
    yield url
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")


def _reservation(connection: psycopg.Connection[object], seat: uuid.UUID, customer: str) -> uuid.UUID:
    reservation, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
    connection.execute(
        "INSERT INTO bc_ordering.reservations (id, seat_id, customer_hash, status, created_at, expires_at)"
        " VALUES (%s, %s, %s, 'active', %s, %s)",
        (reservation, seat, hashlib.sha256(customer.encode()).digest(), now, now + dt.timedelta(minutes=1)),
    )
    return reservation


def _order(
    connection: psycopg.Connection[object], customer: str, state: str, seat: uuid.UUID, reservation: uuid.UUID
) -> uuid.UUID:
    """An order of one seat at 50.00, written as the service writes one."""
    order, now, price = uuid.uuid4(), dt.datetime.now(dt.UTC), Decimal("50.00")
    paid_at = now if state in {"paid", "fulfilled"} else None
    connection.execute(
        "INSERT INTO bc_ordering.orders (id, user_id, state, total_amount, item_count, created_at, updated_at,"
        " paid_at) VALUES (%s, %s, %s, %s, 1, %s, %s, %s)",
        (order, customer, state, price, now, now, paid_at),
    )
    connection.execute(
        "INSERT INTO bc_ordering.order_items (id, order_id, order_live, seat_id, price, reservation_id,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), order, state != "cancelled", seat, price, reservation, now),
    )
    return order


def _without_the_seat_rule(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP INDEX bc_ordering.order_items_seat_in_one_live_order")


def test_a_state_the_service_made_breaks_no_invariant(service: Service, database_url: str) -> None:
    # Given a paid order of two seats, made through the service, whose reservations Inventory granted
    cart = service.cart(seats=2)
    assert service.checkout(cart["id"]).status == 200
    service.publish("payment-succeeded", payment_succeeded(cart))
    grants = {
        item["reservationId"]: Grant(item["reservationId"], item["seatId"], USER, "active") for item in cart["items"]
    }

    # When the invariants are checked, Then none is broken
    found = check(database_url, grants)
    assert broken(found) == {}
    # and the checks that need Inventory's record did run
    assert {PAID_SEAT_NOT_GRANTED, RESERVATION_NOT_AS_PRODUCED} <= set(found)


def test_a_seat_in_two_live_orders_is_reported(scratch_database: str) -> None:
    # Given a database without the seat rule, where two customers' pending orders hold one seat
    _without_the_seat_rule(scratch_database)
    seat = uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as connection:
        first = _order(connection, "ana", "pending", seat, _reservation(connection, seat, "ana"))
        second = _order(connection, "bob", "pending", seat, _reservation(connection, seat, "bob"))

    # When the invariants are checked
    found = broken(check(scratch_database))

    # Then the seat is reported in the two orders, and nothing is reported as sold
    assert found[SEAT_IN_TWO_LIVE_ORDERS] == [f"seat {seat} in orders {', '.join(sorted([str(first), str(second)]))}"]
    assert PAID_SEAT_SOLD_TWICE not in found


def test_a_paid_seat_sold_twice_and_one_never_granted_are_reported(scratch_database: str) -> None:
    # Given a database without the seat rule, where one seat is paid in two orders, one of them
    # by a reservation Inventory never granted to that customer; and a seat of another sale paid
    _without_the_seat_rule(scratch_database)
    seat, elsewhere = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as connection:
        granted = _reservation(connection, seat, "ana")
        _order(connection, "ana", "paid", seat, granted)
        _order(connection, "bob", "fulfilled", seat, _reservation(connection, seat, "bob"))
        _order(connection, "carol", "paid", elsewhere, _reservation(connection, elsewhere, "carol"))
    grants = {str(granted): Grant(str(granted), str(seat), "ana", "active")}

    # When the invariants are checked against Inventory's record
    found = broken(check(scratch_database, grants))

    # Then the double sale, the seat in two live orders and the sale Inventory did not grant are
    # reported (not the other sale's seat, which this Inventory never handled), and the granted
    # reservation is where its events put it
    assert len(found[PAID_SEAT_SOLD_TWICE]) == 1
    assert len(found[SEAT_IN_TWO_LIVE_ORDERS]) == 1
    assert len(found[PAID_SEAT_NOT_GRANTED]) == 1
    assert "customer bob" in found[PAID_SEAT_NOT_GRANTED][0]
    assert RESERVATION_NOT_AS_PRODUCED not in found


def test_a_reservation_stored_otherwise_than_produced_is_reported(scratch_database: str) -> None:
    # Given a reservation Inventory expired (it produced reservation-expired) that is stored active
    seat = uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as connection:
        reservation = _reservation(connection, seat, "ana")
    grants = {str(reservation): Grant(str(reservation), str(seat), "ana", "expired")}

    # When the invariants are checked, Then that reservation is reported
    assert broken(check(scratch_database, grants)) == {
        RESERVATION_NOT_AS_PRODUCED: [f"reservation {reservation}: produced expired, stored active"]
    }

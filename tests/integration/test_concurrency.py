"""Real concurrent callers on a real database: the invariants hold however requests interleave.

The calls run in twenty execution environments (worker processes, each with its own
connections), as concurrent Lambda invocations do; threads here only wait for their answers.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier
from typing import Any

import psycopg

from tests.support import Reply, Service, reservation_created


def _all_at_once(calls: list[Any]) -> list[Reply]:
    start = Barrier(len(calls))

    def run(call: Any) -> Reply:
        start.wait()
        reply: Reply = call()
        return reply

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_twenty_customers_adding_the_same_seat_get_it_once(concurrent_service: Service, database_url: str) -> None:
    # Given twenty customers, each holding a reservation of the same seat (as a stale
    # Inventory might hand out), so that only the seat rule can decide
    seat = uuid.uuid4()
    reservations = [reservation_created(customer=f"customer-{n}", seat=seat) for n in range(20)]
    concurrent_service.publish("reservation-created", *reservations)

    # When all twenty add it to their carts at the same moment
    replies = _all_at_once([lambda r=r: concurrent_service.add_to_cart(r, who=r["customerId"]) for r in reservations])

    # Then exactly one gets it and the others are told, in the contract's words, that it is taken
    assert sorted(reply.status for reply in replies).count(200) == 1
    refusals = {(reply.status, reply.error) for reply in replies if reply.status != 200}
    assert refusals == {(409, "Seat is already in another order")}
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT count(*) FROM bc_ordering.order_items WHERE seat_id = %s", (seat,)).fetchone()
        orders = connection.execute("SELECT count(*), sum(item_count) FROM bc_ordering.orders").fetchone()
    assert rows == (1,)
    assert orders == (1, 1)


def test_one_customer_adding_ten_seats_at_once_gets_one_cart_with_all_ten(
    concurrent_service: Service, database_url: str
) -> None:
    # Given one customer holding ten reservations
    reservations = [reservation_created() for _ in range(10)]
    concurrent_service.publish("reservation-created", *reservations)

    # When they add all ten at the same moment
    replies = _all_at_once([lambda r=r: concurrent_service.add_to_cart(r) for r in reservations])

    # Then all succeed into one draft order holding ten items and the right total
    assert [reply.status for reply in replies] == [200] * 10, [reply.body for reply in replies]
    assert len({reply.body["id"] for reply in replies}) == 1
    with psycopg.connect(database_url) as connection:
        order = connection.execute(
            "SELECT count(*), max(total_amount), max(item_count) FROM bc_ordering.orders WHERE state = 'draft'"
        ).fetchone()
        items = connection.execute("SELECT count(*), sum(price) FROM bc_ordering.order_items").fetchone()
    assert order == (1, Decimal("500.00"), 10)
    assert items == (10, Decimal("500.00"))


def test_concurrent_adds_never_overfill_a_cart(concurrent_service: Service, database_url: str) -> None:
    # Given a cart with eight seats and five more reservations
    reservations = [reservation_created() for _ in range(13)]
    concurrent_service.publish("reservation-created", *reservations)
    for reservation in reservations[:8]:
        assert concurrent_service.add_to_cart(reservation).status == 200

    # When the five are added at once
    replies = _all_at_once([lambda r=r: concurrent_service.add_to_cart(r) for r in reservations[8:]])

    # Then two fit, three are refused, and the cart holds exactly ten
    assert sorted(reply.status for reply in replies) == [200, 200, 400, 400, 400]
    assert {reply.error for reply in replies if reply.status == 400} == {"Order cannot hold more than 10 seats"}
    with psycopg.connect(database_url) as connection:
        count = connection.execute("SELECT count(*) FROM bc_ordering.order_items").fetchone()
    assert count == (10,)

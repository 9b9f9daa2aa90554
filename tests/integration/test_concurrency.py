"""Real concurrent callers on a real database: the invariants hold however requests interleave.

The calls run in twenty execution environments (worker processes, each with its own
connections), as concurrent Lambda invocations do; threads here only wait for their answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from threading import Barrier, Thread
from typing import Any

import psycopg

from tests.support import Reply, Service, bearer, order_row, reservation_created, wait_until


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


def _after_a_change_it_waited_for(database_url: str, order_id: str, change: str, request: Callable[[], Reply]) -> Reply:
    """The reply to `request`, sent while another transaction has made `change` to the order and
    holds its row, which commits once the request waits for the lock."""
    other = psycopg.connect(database_url)
    other.execute(change, (order_id,))
    replies: list[Reply] = []
    waiting = Thread(target=lambda: replies.append(request()))
    waiting.start()
    with psycopg.connect(database_url, autocommit=True) as watcher:
        wait_until(
            lambda: (
                watcher.execute(
                    "SELECT count(*) > 0 FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                == (True,)
            ),
            seconds=10,
            what="the request waiting for the order's lock",
        )
    other.commit()
    other.close()
    waiting.join(timeout=30)
    [reply] = replies
    return reply


def test_a_cancel_that_waited_for_a_payment_is_told_the_order_is_paid(service: Service, database_url: str) -> None:
    # Given a pending order whose payment is being recorded (its row locked, not yet committed)
    order = service.checkout(service.cart()["id"]).body
    # When its owner cancels it meanwhile, and the payment commits while the cancel waits
    reply = _after_a_change_it_waited_for(
        database_url,
        order["id"],
        "UPDATE bc_ordering.orders SET state = 'paid', paid_at = now() WHERE id = %s",
        lambda: service.patch(f"/orders/{order['id']}/cancel", None, bearer()),
    )
    # Then the cancel is refused as the order is once the lock is its own: paid, and it stays paid
    assert (reply.status, reply.error) == (409, "Order cannot be cancelled in state 'paid'")
    assert order_row(database_url, order["id"])[0] == "paid"


def test_a_checkout_that_waited_for_a_cancel_is_told_the_order_is_no_draft(service: Service, database_url: str) -> None:
    # Given a cart its owner is cancelling in another request (its row locked, not yet committed)
    cart = service.cart()
    # When they check it out meanwhile, and the cancel commits while the checkout waits
    reply = _after_a_change_it_waited_for(
        database_url,
        cart["id"],
        "UPDATE bc_ordering.orders SET state = 'cancelled', cancel_reason = 'customer' WHERE id = %s",
        lambda: service.checkout(cart["id"]),
    )
    # Then the checkout is refused as the order is then, and it stays cancelled with no event of a checkout
    assert (reply.status, reply.error) == (400, "Order is not in draft state")
    assert order_row(database_url, cart["id"])[0] == "cancelled"
    with psycopg.connect(database_url) as connection:
        events = connection.execute(
            "SELECT count(*) FROM bc_ordering.outbox WHERE order_id = %s AND event_type = 'order-checked-out'",
            (cart["id"],),
        ).fetchone()
    assert events == (0,)

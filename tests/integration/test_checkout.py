"""POST /orders/checkout through its API Gateway event."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import psycopg

from tests.support import Reply, Service, assert_refused, bearer


def test_checkout_moves_the_draft_to_pending(service: Service) -> None:
    # Given a cart with two seats
    cart = service.cart(seats=2)
    # When the owner checks out
    reply = service.checkout(cart["id"])
    # Then the order is pending, unpaid, with the same items and total
    assert reply.status == 200, reply.body
    assert reply.body["state"] == "pending"
    assert reply.body["paidAt"] is None
    assert reply.body["totalAmount"] == cart["totalAmount"]
    assert reply.body["items"] == cart["items"]


def test_a_guest_checks_out_with_the_guest_token(service: Service) -> None:
    cart = service.cart(guest="guest-abc123xyz")
    reply = service.checkout(cart["id"], who=None, guest="guest-abc123xyz")
    assert reply.status == 200, reply.body
    assert reply.body["state"] == "pending"


def test_no_identity_is_refused(service: Service, database_url: str) -> None:
    cart = service.cart()
    assert_refused(
        database_url,
        lambda: service.checkout(cart["id"], who=None),
        400,
        "Either UserId or GuestToken must be provided",
    )


def test_an_unknown_order_is_not_found(service: Service, database_url: str) -> None:
    assert_refused(database_url, lambda: service.checkout(uuid.uuid4()), 404, "Order not found")


def test_someone_elses_order_is_unauthorized(service: Service, database_url: str) -> None:
    cart = service.cart()
    assert_refused(database_url, lambda: service.checkout(cart["id"], who="someone-else"), 401, "Unauthorized")
    assert_refused(
        database_url,
        lambda: service.checkout(cart["id"], who=None, guest="guest-xyz"),
        401,
        "Unauthorized",
    )


def test_a_second_checkout_is_refused(service: Service, database_url: str) -> None:
    cart = service.cart()
    assert service.checkout(cart["id"]).status == 200
    assert_refused(database_url, lambda: service.checkout(cart["id"]), 400, "Order is not in draft state")


def test_an_empty_order_is_refused(service: Service, database_url: str) -> None:
    # Given a draft order with no items (the state a cart is in after its last seat is removed)
    order_id = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO bc_ordering.orders (id, user_id, state, total_amount, item_count, created_at, updated_at)"
            " VALUES (%s, 'user-123', 'draft', 0, 0, now(), now())",
            (order_id,),
        )
    assert_refused(database_url, lambda: service.checkout(order_id), 400, "Order is empty")


def test_an_item_whose_reservation_expired_blocks_checkout(service: Service, database_url: str) -> None:
    # Given a cart whose reservation expires a moment after the seat was added
    cart = service.cart(expires_in=dt.timedelta(seconds=1.5))
    time.sleep(1.6)
    assert_refused(database_url, lambda: service.checkout(cart["id"]), 400, "Reservation has expired")


def test_two_concurrent_checkouts_of_one_order_succeed_once(concurrent_service: Service, database_url: str) -> None:
    # Given a cart
    service = concurrent_service
    cart = service.cart()
    start = Barrier(2)

    def check_out(_: int) -> Reply:
        start.wait()
        return service.checkout(cart["id"])

    # When the owner checks it out twice at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(check_out, range(2)))

    # Then exactly one succeeds and the other is told the order is no longer a draft
    assert sorted(reply.status for reply in replies) == [200, 400]
    assert [reply.error for reply in replies if reply.status == 400] == ["Order is not in draft state"]
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT state FROM bc_ordering.orders WHERE id = %s", (cart["id"],)).fetchone()
    assert row == ("pending",)


def test_service_tokens_cannot_check_out_someone_elses_order(service: Service, database_url: str) -> None:
    cart = service.cart()
    assert_refused(
        database_url,
        lambda: service.checkout(cart["id"], who=None, headers=bearer("fulfillment-svc", role="fulfillment")),
        401,
        "Unauthorized",
    )

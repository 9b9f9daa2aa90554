"""GET /cart, DELETE /cart/items/{seatId} and the health checks, through their API Gateway events."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial

import psycopg

from tests.support import USER, Service, assert_refused, bearer, reservation_created


def test_the_customer_sees_their_cart(service: Service) -> None:
    # Given a cart of two seats
    cart = service.cart(seats=2)
    # When its owner looks at it
    reply = service.get("/cart", bearer())
    # Then it is the same cart, with both seats
    assert reply.status == 200
    assert reply.body == cart


def test_guests_and_browsers_see_their_cart_with_their_header(service: Service) -> None:
    guest_cart = service.cart(guest="guest-cart-1")
    reply = service.get("/cart", {"X-Guest-Token": "guest-cart-1"})
    assert (reply.status, reply.body["id"], reply.body["guestToken"]) == (200, guest_cart["id"], "guest-cart-1")
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    service.post("/cart/add", {"reservationId": reservation["reservationId"], "seatId": reservation["seatId"],
                               "price": 50, "userId": browser}, headers={})  # fmt: skip
    mine = service.get("/cart", {"X-User-Id": browser})
    assert (mine.status, mine.body["userId"], len(mine.body["items"])) == (200, browser, 1)


def test_no_cart_is_a_404_and_a_checked_out_order_is_no_cart(service: Service) -> None:
    assert (service.get("/cart", bearer()).status, service.get("/cart", bearer()).error) == (404, "Cart not found")
    cart = service.cart()
    assert service.checkout(cart["id"]).status == 200
    assert service.get("/cart", bearer()).error == "Cart not found"
    # and someone else's cart is not theirs
    assert service.get("/cart", bearer("someone-else")).error == "Cart not found"
    assert service.get("/cart", {}).error == "Either UserId or GuestToken must be provided"


def test_a_removed_seat_leaves_the_cart_and_is_free_for_another_customer_at_once(service: Service) -> None:
    # Given a cart of two seats
    cart = service.cart(seats=2)
    first, second = cart["items"]

    # When the owner removes the first
    reply = service.call("DELETE", f"/cart/items/{first['seatId']}", None, bearer())

    # Then the cart keeps the second, and its total follows
    assert reply.status == 200, reply.body
    assert (reply.body["id"], reply.body["totalAmount"]) == (cart["id"], Decimal("50.00"))
    assert [item["seatId"] for item in reply.body["items"]] == [second["seatId"]]
    # and another customer holding a reservation for that seat adds it at once
    other = reservation_created(customer="user-456", seat=uuid.UUID(first["seatId"]))
    service.publish("reservation-created", other)
    assert service.add_to_cart(other, who="user-456").status == 200


def test_removing_the_last_seat_leaves_an_empty_cart(service: Service) -> None:
    cart = service.cart()
    seat = cart["items"][0]["seatId"]
    reply = service.call("DELETE", f"/cart/items/{seat}", None, bearer())
    assert (reply.status, reply.body["id"], reply.body["totalAmount"], reply.body["items"]) == (
        200, cart["id"], Decimal("0.00"), [],
    )  # fmt: skip
    # it is still the cart, and checking it out says it is empty
    assert service.get("/cart", bearer()).body["id"] == cart["id"]
    assert service.checkout(cart["id"]).error == "Order is empty"


def test_a_seat_not_in_the_cart_is_a_404_and_changes_nothing(service: Service, database_url: str) -> None:
    cart = service.cart()
    seat = cart["items"][0]["seatId"]
    for path, headers in (
        (f"/cart/items/{uuid.uuid4()}", bearer()),  # not in it
        (f"/cart/items/{seat}", bearer("someone-else")),  # in someone else's cart
    ):
        assert_refused(
            database_url, partial(service.call, "DELETE", path, None, headers), 404, "Seat is not in the cart"
        )
    pending = service.cart(guest="guest-pending-2")
    assert service.checkout(pending["id"], who=None, guest="guest-pending-2").status == 200
    assert_refused(
        database_url,
        lambda: service.call("DELETE", f"/cart/items/{pending['items'][0]['seatId']}", None,
                             {"X-Guest-Token": "guest-pending-2"}),
        404, "Seat is not in the cart",
    )  # fmt: skip


def test_concurrent_removals_and_additions_keep_the_cart_consistent(
    concurrent_service: Service, database_url: str
) -> None:
    # Given a cart of four seats, and four more reserved
    cart = concurrent_service.cart(seats=4)
    more = [reservation_created() for _ in range(4)]
    concurrent_service.publish("reservation-created", *more)

    # When the owner removes the four and adds the four others, all at once
    def remove(seat: str) -> int:
        return concurrent_service.call("DELETE", f"/cart/items/{seat}", None, bearer()).status

    def add(reservation: dict[str, str]) -> int:
        return concurrent_service.add_to_cart(reservation).status

    with ThreadPoolExecutor(8) as pool:
        removals = [pool.submit(remove, item["seatId"]) for item in cart["items"]]
        additions = [pool.submit(add, reservation) for reservation in more]
        removed = [future.result() for future in removals]
        added = [future.result() for future in additions]

    # Then every call succeeded, and the cart holds exactly the four new seats, its total theirs
    assert removed == added == [200] * 4
    final = concurrent_service.get("/cart", bearer()).body
    assert sorted(item["seatId"] for item in final["items"]) == sorted(r["seatId"] for r in more)
    assert final["totalAmount"] == Decimal("200.00")
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT item_count, total_amount FROM bc_ordering.orders WHERE id = %s", (cart["id"],)
        ).fetchone()
    assert row == (4, Decimal("200.00"))


def test_health_says_the_service_answers_and_readiness_that_its_stores_do(service: Service) -> None:
    assert service.get("/health", {}).body == {"status": "Healthy", "service": "Ordering"}
    ready = service.get("/health/ready", {})
    assert (ready.status, ready.body["checks"]) == (
        200,
        # and, with no CATALOG_URL, that the prices clients send are taken as they are
        {"postgresql": "up", "redis": "up", "prices": "not verified", "catalog": "not configured"},
    )


def test_readiness_says_when_the_database_is_down_without_saying_where(service: Service, database_down: None) -> None:
    ready = service.get("/health/ready", {})
    assert (ready.status, ready.body["status"], ready.body["checks"]["postgresql"]) == (503, "Unhealthy", "down")
    assert "127.0.0.1" not in str(ready.body)
    assert USER not in str(ready.body)

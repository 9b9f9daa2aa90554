"""The platform's callers as they are: each test sends what the caller's own code sends (the
web frontend, the Fulfillment service, the Waitlist service, an attacker), through API Gateway
events of the API it reaches, on real PostgreSQL and Redis, and asserts what the caller reads."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from typing import Any

import psycopg
import pytest

from tests.support import (
    EMAIL,
    USER,
    Service,
    assert_refused,
    bearer,
    conflicts,
    payment_succeeded,
    reservation_created,
    reservation_expired,
    stored_state,
)

VICTIM = "user-0e8f1957"


def _frontend_add(service: Service, reservation: dict[str, Any], browser_id: str) -> Any:
    """POST /cart/add as the web frontend sends it: its per-session UUID as userId, no token."""
    return service.post(
        "/cart/add",
        {
            "reservationId": reservation["reservationId"],
            "seatId": reservation["seatId"],
            "price": 50.00,
            "userId": browser_id,
        },
        headers={},
    )


def _waitlist(service: Service, seat: str, *, email: str = "waiting@example.com", price: Any = 0) -> Any:
    """POST /orders/waitlist as the Waitlist service sends it, on the internal API."""
    body = {"seatId": seat, "price": price, "guestToken": email, "concertEventId": CONCERT}
    return service.post("/orders/waitlist", body, headers={}, api="internal")


CONCERT = str(uuid.uuid4())


# ------------------------------------------------------------------ the seat-hijack hole


def test_a_guest_token_equal_to_a_users_id_does_not_take_that_users_seat(service: Service, database_url: str) -> None:
    # Given a seat S that signed-in user-0e8f1957 reserved (the seat id is public in the seat map)
    reservation = reservation_created(customer=VICTIM)
    service.publish("reservation-created", reservation)

    # When an attacker without a token sends the victim's id as a guest token, letting the
    # service find the reservation by the seat
    attack = {"reservationId": None, "seatId": reservation["seatId"], "price": 50.00, "guestToken": VICTIM}
    assert_refused(
        database_url,
        lambda: service.post("/cart/add", attack, headers={}),
        400,
        "Field 'reservationId' is required",
    )
    # or sends the victim's id as the frontend's anonymous userId
    assert_refused(
        database_url,
        lambda: service.post("/cart/add", {**attack, "guestToken": None, "userId": VICTIM}, headers={}),
        400,
        "Field 'reservationId' is required",
    )

    # Then the victim still adds the seat and checks out
    mine = service.add_to_cart(reservation, who=VICTIM, reservationId=None)
    assert mine.status == 200, mine.body
    assert service.checkout(mine.body["id"], who=VICTIM).status == 200


def test_a_signed_in_caller_cannot_borrow_another_users_id_as_a_guest_token(
    service: Service, database_url: str
) -> None:
    # Given the victim's reserved seat
    reservation = reservation_created(customer=VICTIM)
    service.publish("reservation-created", reservation)

    # When a signed-in attacker sends the victim's id as a guest token beside their own token
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who="attacker-1", guest=VICTIM, reservationId=None),
        400,
        "A signed-in request cannot carry a guest token",
    )
    # even naming the reservation
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who="attacker-1", guest=VICTIM),
        400,
        "A signed-in request cannot carry a guest token",
    )

    # Then the seat is still the victim's to take
    assert service.add_to_cart(reservation, who=VICTIM).status == 200


def test_a_signed_in_caller_only_finds_their_own_reservation_for_the_seat(service: Service, database_url: str) -> None:
    # Given the victim's reserved seat
    reservation = reservation_created(customer=VICTIM)
    service.publish("reservation-created", reservation)
    # When another signed-in user asks for the seat without naming a reservation
    # Then the seat is held by someone else, and nothing is written
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who="attacker-1", reservationId=None),
        400,
        "Seat has an active reservation",
    )


# ------------------------------------------------------------------ the web frontend


def test_the_frontend_buys_with_its_per_session_id_and_no_token(service: Service, database_url: str) -> None:
    # Given two seats Inventory reserved for the browser's session id
    browser = str(uuid.uuid4())
    first, second = reservation_created(customer=browser), reservation_created(customer=browser)
    service.publish("reservation-created", first, second)

    # When the frontend adds both and checks out, sending only that id
    one = _frontend_add(service, first, browser)
    two = _frontend_add(service, second, browser)
    pending = service.post("/orders/checkout", {"orderId": one.body["id"], "userId": browser}, headers={})

    # Then it reads id, items, totalAmount and state as it expects, with its id echoed
    assert (one.status, one.body["state"], one.body["totalAmount"]) == (200, "draft", Decimal("50.00"))
    assert one.body["userId"] == browser
    assert (two.status, two.body["id"], len(two.body["items"])) == (200, one.body["id"], 2)
    assert (pending.status, pending.body["state"], pending.body["totalAmount"]) == (200, "pending", Decimal("100.00"))
    # and the id, a bearer credential, is stored only as its hash
    assert browser not in repr(stored_state(database_url))


def test_the_frontend_reads_its_order_with_its_id_in_a_header(service: Service) -> None:
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    order = _frontend_add(service, reservation, browser).body

    reply = service.get(f"/orders/{order['id']}", {"X-User-Id": browser})

    assert reply.status == 200
    assert (reply.body["userId"], reply.body["customerEmail"]) == (browser, "")


def test_another_browser_cannot_check_out_or_read_the_cart(service: Service, database_url: str) -> None:
    # Given a browser's cart
    browser, other = str(uuid.uuid4()), str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    order = _frontend_add(service, reservation, browser).body

    # When another browser's id is used to check it out or read it
    assert_refused(
        database_url,
        lambda: service.post("/orders/checkout", {"orderId": order["id"], "userId": other}, headers={}),
        401,
        "Unauthorized",
    )
    reply = service.get(f"/orders/{order['id']}", {"X-User-Id": other})

    # Then it is refused, and the order does not even exist for them
    assert (reply.status, reply.error) == (404, "Order not found")


def test_an_anonymous_id_equal_to_a_users_subject_is_not_that_user(service: Service) -> None:
    # Given a browser whose session id is "user-123" (before any user-123 signed in: see the next
    # test for after), then user-123's cart, signed in
    reservation = reservation_created(customer=USER)
    service.publish("reservation-created", reservation)
    anonymous = _frontend_add(service, reservation, USER)
    assert anonymous.status == 200, anonymous.body
    signed_in = service.cart()

    # Then they are two owners with two carts, and neither reaches the other's
    assert anonymous.body["id"] != signed_in["id"]
    assert service.get(f"/orders/{signed_in['id']}", {"X-User-Id": USER}).status == 404
    assert service.get(f"/orders/{anonymous.body['id']}", bearer(USER)).status == 404
    refused = service.post("/orders/checkout", {"orderId": signed_in["id"], "userId": USER}, headers={})
    assert (refused.status, refused.error) == (401, "Unauthorized")
    assert service.checkout(anonymous.body["id"]).error == "Unauthorized"
    assert service.get(f"/orders/{signed_in['id']}", bearer(USER)).status == 200


@pytest.mark.parametrize("kind", ["anonymous id", "guest token"])
@pytest.mark.parametrize("first_request", ["GET /cart", "POST /cart/add"])
def test_a_user_id_seen_signed_in_claims_no_reservation_without_its_token(
    service: Service, database_url: str, kind: str, first_request: str
) -> None:
    # Given a user who has used the service with their token once (any signed-in request)
    if first_request == "GET /cart":
        assert service.get("/cart", bearer(VICTIM)).status == 404
    else:
        earlier = reservation_created(customer=VICTIM)
        service.publish("reservation-created", earlier)
        assert service.add_to_cart(earlier, who=VICTIM).status == 200
    # and a seat Inventory then reserved for them, whose reservation id the attacker read on Kafka
    reservation = reservation_created(customer=VICTIM)
    service.publish("reservation-created", reservation)

    # When an attacker without a token claims it with the user's id, as an anonymous id or a guest token
    identity = {"userId": VICTIM} if kind == "anonymous id" else {"guestToken": VICTIM}
    attack = {"reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 10, **identity}
    # Then it belongs to another customer, and nothing is written
    assert_refused(
        database_url,
        lambda: service.post("/cart/add", attack, headers={}),
        403,
        "Reservation belongs to another customer",
    )
    # and the user still takes their seat
    assert service.add_to_cart(reservation, who=VICTIM).status == 200


def test_a_user_id_and_a_guest_token_without_a_token_are_two_identities(service: Service, database_url: str) -> None:
    reservation = reservation_created(customer="guest-77")
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who=str(uuid.uuid4()), guest="guest-77", headers={}),
        400,
        "A request cannot carry both a userId and a guest token",
    )


# ------------------------------------------------------------------ the Fulfillment service


def test_fulfillment_reads_an_order_with_no_token_through_the_internal_api(service: Service) -> None:
    # Given a signed-in customer's pending order
    order = service.cart()
    assert service.checkout(order["id"]).status == 200

    # When Fulfillment reads it as its client does: GET /Orders/{id}, no headers at all
    reply = service.get(f"/Orders/{order['id']}", {}, api="internal")

    # Then it gets every field it stores, none of the NOT NULL ones null
    assert reply.status == 200, reply.body
    fields = {key: reply.body[key] for key in ("orderId", "customerEmail", "seatNumber", "price", "currency")}
    assert fields == {
        "orderId": order["id"],
        "customerEmail": EMAIL,
        "seatNumber": "VIP-A-12",
        "price": Decimal("50.00"),
        "currency": "USD",
    }
    assert (reply.body["eventId"], reply.body["eventName"], reply.body["guestToken"]) == (None, None, None)
    # and the lower-case path serves the same
    assert service.get(f"/orders/{order['id']}", {}, api="internal").body == reply.body


def test_fulfillment_never_sees_an_anonymous_id_or_a_null_email(service: Service) -> None:
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    order = _frontend_add(service, reservation, browser).body

    reply = service.get(f"/Orders/{order['id']}", {}, api="internal")

    assert reply.status == 200
    assert (reply.body["customerEmail"], reply.body["userId"]) == ("", None)
    assert browser not in repr(reply.body)


def test_the_public_api_answers_no_order_data_without_identity(service: Service) -> None:
    order = service.cart()
    reply = service.get(f"/orders/{order['id']}", {})
    assert (reply.status, reply.body) == (400, {"error": "Either UserId or GuestToken must be provided"})


def test_the_concert_of_an_expired_reservation_is_the_orders_event(service: Service) -> None:
    # Given an order whose reservation then expired, Inventory naming the concert
    order = service.cart()
    reservation = {
        "reservationId": order["items"][0]["reservationId"],
        "seatId": order["items"][0]["seatId"],
        "customerId": USER,
    }
    expiry = {**reservation_expired(reservation), "concertEventId": CONCERT}
    assert service.publish("reservation-expired", expiry) == {"batchItemFailures": []}

    # When the platform reads it, then its eventId is that concert
    reply = service.get(f"/Orders/{order['id']}", {}, api="internal")
    assert (reply.body["state"], reply.body["eventId"]) == ("cancelled", CONCERT)


# ------------------------------------------------------------------ the Waitlist service


def test_the_waitlist_places_a_pending_order_for_a_free_seat(service: Service, database_url: str) -> None:
    # When the Waitlist service places an order for a seat, priced 0 as it sends today
    seat = str(uuid.uuid4())
    placed = _waitlist(service, seat)

    # Then it reads the order id from a 201, and the order is pending with what Fulfillment needs
    assert placed.status == 201, placed.body
    order = service.get(f"/Orders/{placed.body['orderId']}", {}, api="internal").body
    assert order["state"] == "pending"
    assert order["items"][0] | {"id": None} == {
        "id": None,
        "seatId": seat,
        "price": Decimal("0.00"),
        "reservationId": None,
        "seatNumber": None,
        "section": None,
    }
    assert (order["customerEmail"], order["eventId"], order["seatNumber"]) == ("waiting@example.com", CONCERT, seat)
    assert order["price"] == Decimal("0.00")
    # and the customer reads it with the email as their guest token
    mine = service.get(f"/orders/{placed.body['orderId']}", {"X-Guest-Token": "waiting@example.com"})
    assert mine.status == 200


def test_a_waitlist_retry_is_the_same_order(service: Service, database_url: str) -> None:
    # When the Waitlist service sends the same request again (its retry), the email in other letters
    seat = str(uuid.uuid4())
    first, again = _waitlist(service, seat), _waitlist(service, seat, email="Waiting@Example.com")
    # Then it reads the same order id, told that it is a replay, and one order exists
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert ("Idempotent-Replayed" in first.headers, again.headers["Idempotent-Replayed"]) == (False, "true")
    assert len(stored_state(database_url)["orders"]) == 1


def test_a_waitlist_order_for_a_seat_in_a_live_order_is_a_conflict(service: Service, database_url: str) -> None:
    # Given a seat in a customer's cart
    order = service.cart()
    seat = order["items"][0]["seatId"]
    # When the Waitlist service places an order for it, then 409 and nothing is written
    assert_refused(database_url, lambda: _waitlist(service, seat), 409, "Seat is already in another order")
    # nor for a seat another waitlist customer holds
    other = str(uuid.uuid4())
    assert _waitlist(service, other).status == 201
    assert_refused(
        database_url,
        lambda: _waitlist(service, other, email="someone-else@example.com"),
        409,
        "Seat is already in another order",
    )


def test_a_cancelled_waitlist_order_frees_the_seat_for_a_customer(service: Service) -> None:
    # Given a waitlist order for a seat
    seat = str(uuid.uuid4())
    placed = _waitlist(service, seat)
    # When the Waitlist service cancels it as it does (PATCH, body {})
    cancelled = service.patch(f"/orders/{placed.body['orderId']}/cancel", {}, headers={}, api="internal")
    # Then it is cancelled, and a customer holding a reservation for the seat adds it
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled")
    reservation = reservation_created(seat=uuid.UUID(seat))
    service.publish("reservation-created", reservation)
    assert service.add_to_cart(reservation).status == 200


# ------------------------------------------------------------------ an email is no secret


def test_an_email_lists_no_waitlist_order_and_finds_no_cart(service: Service) -> None:
    # Given a waitlist order the Waitlist service placed for someone's email
    placed = _waitlist(service, str(uuid.uuid4()), email="waiting@example.com")
    assert placed.status == 201, placed.body
    # When an attacker who knows the email asks for the orders and the cart of it, as a guest
    listed = service.get("/orders", {"X-Guest-Token": "waiting@example.com"})
    cart = service.get("/cart", {"X-Guest-Token": "Waiting@Example.com"})
    # Then the email lists nothing and owns no cart
    assert (listed.status, listed.body) == (200, {"items": [], "nextCursor": None})
    assert (cart.status, cart.error) == (404, "Cart not found")


def test_a_waitlist_order_is_reached_by_its_id_with_its_email_in_any_case(service: Service) -> None:
    # Given a waitlist order, whose id the Waitlist service mailed to the customer
    order_id = _waitlist(service, str(uuid.uuid4()), email="waiting@example.com").body["orderId"]
    # When the customer reads it with its id and their email, in other letters
    mine = service.get(f"/orders/{order_id}", {"X-Guest-Token": "WAITING@example.com"})
    # Then they read it; with another email, nobody does
    assert (mine.status, mine.body["state"], mine.body["customerEmail"]) == (200, "pending", "waiting@example.com")
    other = service.get(f"/orders/{order_id}", {"X-Guest-Token": "someone@example.com"})
    assert (other.status, other.error) == (404, "Order not found")


def test_a_waitlist_order_is_reached_with_the_email_as_the_waitlist_sent_it(service: Service) -> None:
    # Given a waitlist order for an address with an internationalised domain, in its ASCII form
    order_id = _waitlist(service, str(uuid.uuid4()), email="Ana@XN--BCHER-KVA.de").body["orderId"]
    # When the customer reads it with the address as it was sent to them
    mine = service.get(f"/orders/{order_id}", {"X-Guest-Token": "ana@xn--bcher-kva.de"})
    # Then it is theirs (the address is checked, not rewritten)
    assert (mine.status, mine.body.get("customerEmail")) == (200, "ana@xn--bcher-kva.de")


def test_a_waitlist_order_is_cancelled_only_with_its_id_and_its_email(service: Service, database_url: str) -> None:
    # Given a waitlist order
    order_id = _waitlist(service, str(uuid.uuid4()), email="waiting@example.com").body["orderId"]
    # When someone with another email cancels it, Then 404 and nothing is written
    assert_refused(
        database_url,
        lambda: service.patch(f"/orders/{order_id}/cancel", {}, {"X-Guest-Token": "someone@example.com"}),
        404,
        "Order not found",
    )
    # When the customer cancels it with its id and their email, Then it is cancelled
    cancelled = service.patch(f"/orders/{order_id}/cancel", {}, {"X-Guest-Token": "Waiting@Example.com"})
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled")


def test_a_guest_cart_is_still_owned_by_its_exact_token(service: Service, database_url: str) -> None:
    # Given a guest's cart, made with a token in mixed case
    order = service.cart(guest="Guest-Token-XYZ")
    # When the same token in other letters reads it, Then it is not theirs (only emails of waitlist
    # orders compare in any case)
    other = service.get(f"/orders/{order['id']}", {"X-Guest-Token": "guest-token-xyz"})
    assert (other.status, other.error) == (404, "Order not found")
    assert service.get(f"/orders/{order['id']}", {"X-Guest-Token": "Guest-Token-XYZ"}).status == 200


def test_bad_waitlist_requests_are_refused_and_write_nothing(service: Service, database_url: str) -> None:
    seat = str(uuid.uuid4())
    cases = [
        ({"seatId": "S1", "price": 0, "guestToken": "a@example.com"}, "Field 'seatId' must be a UUID"),
        ({"seatId": seat, "price": -1, "guestToken": "a@example.com"}, "Field 'price' must be at least 0"),
        ({"seatId": seat, "price": 1.005, "guestToken": "a@example.com"},
         "Field 'price' must have at most 2 decimal places"),
        ({"seatId": seat, "price": "0", "guestToken": "a@example.com"}, "Field 'price' must be a number"),
        ({"seatId": seat, "price": 0, "guestToken": "not an email"}, "Field 'guestToken' must be an email address"),
        ({"seatId": seat, "price": 0}, "Field 'guestToken' is required"),
        ({"seatId": seat, "price": 0, "guestToken": "a@example.com", "concertEventId": "x"},
         "Field 'concertEventId' must be a UUID"),
    ]  # fmt: skip
    for body, message in cases:
        assert_refused(database_url, partial(service.post, "/orders/waitlist", body, {}, api="internal"), 400, message)


def test_concurrent_waitlist_requests_for_one_seat_place_one_order(
    concurrent_service: Service, database_url: str
) -> None:
    # Given one free seat, and the Waitlist service sending the same request four times at once
    # (its retries) while two other customers' requests for the seat race them
    seat = str(uuid.uuid4())
    emails = ["waiting@example.com"] * 4 + ["other-1@example.com", "other-2@example.com"]
    with ThreadPoolExecutor(len(emails)) as pool:
        replies = list(pool.map(lambda email: _waitlist(concurrent_service, seat, email=email), emails))

    # Then exactly one order holds the seat: every request of its owner gets that order, every other a 409
    with psycopg.connect(database_url) as connection:
        placed = connection.execute("SELECT id, customer_email FROM bc_ordering.orders").fetchall()
    assert len(placed) == 1
    winner = placed[0][1]
    for email, reply in zip(emails, replies, strict=True):
        if email == winner:
            assert (reply.status, reply.body) == (201, {"orderId": str(placed[0][0])})
        else:
            assert (reply.status, reply.error) == (409, "Seat is already in another order")
    # one request placed it, and every other request of its owner was told it replays that one
    placed_now = [reply for reply in replies if reply.status == 201 and "Idempotent-Replayed" not in reply.headers]
    assert len(placed_now) == 1


# ------------------------------------------------------------------ cancel


def test_the_owner_cancels_their_cart_and_the_seat_is_free_at_once(service: Service) -> None:
    # Given user-123's cart
    order = service.cart()
    seat = uuid.UUID(order["items"][0]["seatId"])

    # When they cancel it
    reply = service.patch(f"/orders/{order['id']}/cancel", None, bearer())

    # Then it is cancelled, and another customer with a reservation for the seat adds it
    assert (reply.status, reply.body["state"], reply.body["id"]) == (200, "cancelled", order["id"])
    other = reservation_created(customer="user-456", seat=seat)
    service.publish("reservation-created", other)
    assert service.add_to_cart(other, who="user-456").status == 200
    # and cancelling it again changes nothing and succeeds
    again = service.patch(f"/orders/{order['id']}/cancel", None, bearer())
    assert (again.status, again.body["state"]) == (200, "cancelled")


def test_guests_and_browsers_cancel_with_their_header(service: Service) -> None:
    guest_order = service.cart(guest="guest-cancel-1")
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    browser_order = _frontend_add(service, reservation, browser).body

    guest = service.patch(f"/orders/{guest_order['id']}/cancel", {}, {"X-Guest-Token": "guest-cancel-1"})
    anonymous = service.patch(f"/orders/{browser_order['id']}/cancel", {}, {"X-User-Id": browser})

    assert (guest.status, guest.body["state"], guest.body["guestToken"]) == (200, "cancelled", "guest-cancel-1")
    assert (anonymous.status, anonymous.body["state"], anonymous.body["userId"]) == (200, "cancelled", browser)


def test_nobody_else_cancels_an_order_on_the_public_api(service: Service, database_url: str) -> None:
    order = service.cart()
    path = f"/orders/{order['id']}/cancel"
    strangers = (
        bearer("someone-else"),
        {"X-Guest-Token": USER},
        {"X-User-Id": USER},
        bearer("x", role="customer"),
        # a service role reads any order on the public API, but cancels only on the internal one
        bearer("fulfillment-svc", role="fulfillment"),
    )
    for headers in strangers:
        assert_refused(database_url, partial(service.patch, path, {}, headers), 404, "Order not found")
    assert_refused(
        database_url, lambda: service.patch(path, {}, {}), 400, "Either UserId or GuestToken must be provided"
    )
    assert_refused(database_url, lambda: service.patch(f"/orders/{uuid.uuid4()}/cancel", {}, bearer()), 404,
                   "Order not found")  # fmt: skip


def test_a_paid_order_cannot_be_cancelled(service: Service, database_url: str) -> None:
    order = service.cart()
    pending = service.checkout(order["id"]).body
    assert service.publish("payment-succeeded", payment_succeeded(pending)) == {"batchItemFailures": []}
    assert_refused(
        database_url,
        lambda: service.patch(f"/orders/{order['id']}/cancel", {}, bearer()),
        409,
        "Order cannot be cancelled in state 'paid'",
    )


def test_a_payment_for_an_order_the_customer_cancelled_is_a_refund_conflict(
    service: Service, database_url: str
) -> None:
    # Given a pending order its customer then cancelled
    order = service.cart()
    pending = service.checkout(order["id"]).body
    assert service.patch(f"/orders/{order['id']}/cancel", {}, bearer()).status == 200

    # When its payment arrives after all
    assert service.publish("payment-succeeded", payment_succeeded(pending)) == {"batchItemFailures": []}

    # Then the order stays cancelled and the payment is recorded to refund
    assert service.get(f"/orders/{order['id']}", bearer()).body["state"] == "cancelled"
    assert conflicts(database_url, order["id"]) == [("payment_for_cancelled_order", "refund", Decimal("50.00"))]


def test_a_platform_service_cancels_through_the_internal_api_and_the_reason_is_kept(
    service: Service, database_url: str
) -> None:
    order = service.cart()
    reply = service.patch(f"/orders/{order['id']}/cancel", {}, headers={}, api="internal")
    assert (reply.status, reply.body["state"]) == (200, "cancelled")
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT cancel_reason FROM bc_ordering.orders WHERE id = %s", (order["id"],)
        ).fetchone()
    assert row == ("service",)


def test_anonymous_ids_refused_on_every_route(service: Service, configure: Any) -> None:
    # Given a browser's cart, then a deployment that refuses anonymous ids
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    order = _frontend_add(service, reservation, browser).body
    configure(ANONYMOUS_USER_IDS="refuse")
    # Then its id opens nothing
    assert service.get(f"/orders/{order['id']}", {"X-User-Id": browser}).error == "Unauthorized"
    assert service.patch(f"/orders/{order['id']}/cancel", {}, {"X-User-Id": browser}).error == "Unauthorized"
    assert service.get(f"/orders/{order['id']}", {"X-User-Id": browser}).status == 401


def test_anonymous_ids_and_waitlist_emails_reach_no_log_even_at_debug(
    service: Service, logs_at_debug: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given every logger at DEBUG, Powertools' own included
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    service.publish("reservation-created", reservation)
    # When a browser buys and reads, and the Waitlist service places and cancels an order
    order = _frontend_add(service, reservation, browser).body
    service.post("/orders/checkout", {"orderId": order["id"], "userId": browser}, headers={})
    service.get(f"/orders/{order['id']}", {"X-User-Id": browser})
    placed = _waitlist(service, str(uuid.uuid4()), email="secret-waiter@example.com")
    service.patch(f"/orders/{placed.body['orderId']}/cancel", {}, headers={}, api="internal")
    # Then neither credential was written anywhere
    logged = logs_at_debug.text + capsys.readouterr().out
    assert "Calling API Route Handler" in logged
    assert browser not in logged
    assert "secret-waiter" not in logged


def test_the_internal_api_answers_without_cors_headers(service: Service, configure: Any) -> None:
    # Given a service configured for a browser origin
    configure(CORS_ALLOW_ORIGIN="http://localhost:3000")
    order = service.cart()
    # Then the public API's answers carry it, the internal API's never (no page may read them)
    assert service.get(f"/orders/{order['id']}", bearer()).headers["Access-Control-Allow-Origin"]
    assert "Access-Control-Allow-Origin" not in service.get(f"/Orders/{order['id']}", {}, api="internal").headers

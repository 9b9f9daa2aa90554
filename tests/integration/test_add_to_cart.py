"""POST /cart/add through its API Gateway event, on real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from tests.support import EMAIL, USER, Service, assert_refused, bearer, reservation_created, stored_state


def test_first_seat_creates_a_draft_and_second_seat_joins_it(service: Service) -> None:
    # Given two seats reserved by the same signed-in customer
    first, second = reservation_created(), reservation_created(seat_number="VIP-A-13")
    service.publish("reservation-created", first, second)

    # When they add both to the cart
    one = service.add_to_cart(first)
    two = service.add_to_cart(second)

    # Then the first creates a draft worth 50.00 and the second lands in the same order
    assert one.status == 200, one.body
    assert one.body["state"] == "draft"
    assert one.body["totalAmount"] == Decimal("50.00")
    assert one.body["userId"] == USER
    assert one.body["guestToken"] is None
    assert one.body["paidAt"] is None
    assert two.status == 200, two.body
    assert two.body["id"] == one.body["id"]
    assert two.body["totalAmount"] == Decimal("100.00")
    assert [item["seatId"] for item in two.body["items"]] == [first["seatId"], second["seatId"]]
    assert two.body["items"][1] | {"id": None} == {
        "id": None,
        "seatId": second["seatId"],
        "price": Decimal("50.00"),
        "reservationId": second["reservationId"],
        "seatNumber": "VIP-A-13",
        "section": "VIP",
    }


def test_money_is_written_as_a_json_number_with_two_places(service: Service) -> None:
    # Given a reserved seat
    reservation = reservation_created()
    service.publish("reservation-created", reservation)

    # When it is added at 50 (an integer in the request)
    reply = service.add_to_cart(reservation, price="50")

    # Then the body carries the money as the number 50.00, not a string or a float
    assert reply.status == 200
    raw = json.dumps(reply.body, default=str)
    assert '"totalAmount": "50.00"' in raw  # Decimal('50.00') as parsed from the wire text `50.00`


def test_a_guest_adds_with_a_guest_token_that_is_stored_only_as_a_hash(service: Service, database_url: str) -> None:
    # Given a seat reserved by a guest
    reservation = reservation_created(customer="guest-abc123xyz")
    service.publish("reservation-created", reservation)

    # When the guest adds it with their guest token
    reply = service.add_to_cart(reservation, who=None, guest="guest-abc123xyz")

    # Then the cart is theirs, and the token is nowhere in the database in plain text
    assert reply.status == 200, reply.body
    assert reply.body["userId"] is None
    assert reply.body["guestToken"] == "guest-abc123xyz"
    assert "guest-abc123xyz" not in repr(stored_state(database_url))


def test_without_a_reservation_id_the_callers_live_reservation_of_the_seat_is_used(service: Service) -> None:
    # Given a seat the caller reserved
    reservation = reservation_created()
    service.publish("reservation-created", reservation)

    # When they add the seat without naming the reservation
    reply = service.add_to_cart(reservation, reservationId=None)

    # Then their reservation is the one on the item
    assert reply.status == 200, reply.body
    assert reply.body["items"][0]["reservationId"] == reservation["reservationId"]


def test_the_email_of_the_token_is_kept_for_fulfillment(service: Service) -> None:
    # Given a cart created by a signed-in customer
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    order = service.add_to_cart(reservation).body

    # When Fulfillment reads the order
    reply = service.get(f"/orders/{order['id']}", bearer("fulfillment-svc", role="fulfillment", email=None))

    # Then it sees the customer's email
    assert reply.status == 200
    assert reply.body["customerEmail"] == EMAIL


# Every refusal of the contract, in its order: status, exact message, and nothing written.


def test_no_identity_is_refused(service: Service, database_url: str) -> None:
    # Given a reserved seat
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    # When the request names neither a user nor a guest, Then 400 and nothing changes
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who=None),
        400,
        "Either UserId or GuestToken must be provided",
    )


def test_empty_identities_count_as_none(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, who=None, guest="", userId=""),
        400,
        "Either UserId or GuestToken must be provided",
    )


def test_a_user_id_without_a_token_is_unauthorized_where_anonymous_ids_are_refused(
    service: Service, database_url: str, configure: Callable[..., None]
) -> None:
    # Given a deployment whose clients all send tokens
    configure(ANONYMOUS_USER_IDS="refuse")
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    # When a userId comes without a token, then 401 and nothing is written
    assert_refused(database_url, lambda: service.add_to_cart(reservation, headers={}), 401, "Unauthorized")


def test_a_user_id_that_is_not_the_tokens_subject_is_unauthorized(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, headers=bearer("someone-else")),
        401,
        "Unauthorized",
    )


def test_an_unknown_reservation_asks_to_retry(service: Service, database_url: str) -> None:
    # Given a reservation whose reservation-created event was not consumed yet
    reservation = reservation_created()
    # When it is added, Then 400 with Retry-After: 2
    reply = assert_refused(database_url, lambda: service.add_to_cart(reservation), 400, "Reservation not found")
    assert reply.headers.get("Retry-After") == "2"


def test_no_reservation_for_the_seat_at_all_is_not_found(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, reservationId=None),
        400,
        "Reservation not found",
    )


def test_a_reservation_for_another_seat_is_refused(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    other_seat = dict(reservation, seatId=str(uuid.uuid4()))
    assert_refused(
        database_url,
        lambda: service.add_to_cart(other_seat),
        400,
        "Reservation is for a different seat",
    )


def test_a_reservation_of_another_customer_is_forbidden(service: Service, database_url: str) -> None:
    reservation = reservation_created(customer="someone-else")
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation),
        403,
        "Reservation belongs to another customer",
    )


def test_an_expired_reservation_is_refused(service: Service, database_url: str) -> None:
    reservation = reservation_created(expires_in=dt.timedelta(seconds=-1))
    service.publish("reservation-created", reservation)
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 400, "Reservation has expired")


def test_a_reservation_that_is_not_active_says_its_status(service: Service, database_url: str) -> None:
    reservation = reservation_created(status="confirmed")
    service.publish("reservation-created", reservation)
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 400, "Reservation is confirmed")


def test_a_seat_held_by_another_customers_reservation_is_refused(service: Service, database_url: str) -> None:
    # Given another customer holds the seat's live reservation
    theirs = reservation_created(customer="someone-else")
    service.publish("reservation-created", theirs)
    # When the caller adds the seat without a reservation id, Then it is refused
    assert_refused(
        database_url,
        lambda: service.add_to_cart(theirs, reservationId=None),
        400,
        "Seat has an active reservation",
    )


@pytest.mark.parametrize("price", ["0", "-5.00", "0.00"])
def test_a_price_that_is_not_positive_is_refused(service: Service, database_url: str, price: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, price=price),
        400,
        "Price must be greater than zero",
    )


def test_a_price_with_more_than_two_places_is_refused_naming_the_field(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, price="50.001"),
        400,
        "Field 'price' must have at most 2 decimal places",
    )


def test_a_price_other_than_the_reserved_base_price_is_refused(service: Service, database_url: str) -> None:
    reservation = reservation_created(base_price=75)
    service.publish("reservation-created", reservation)
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, price="50.00"),
        400,
        "Price does not match the reserved seat price",
    )
    assert service.add_to_cart(reservation, price="75.00").status == 200


def test_a_seat_already_in_the_cart_is_refused(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert service.add_to_cart(reservation).status == 200
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 400, "Seat is already in the cart")


def test_a_seat_in_someone_elses_order_conflicts(service: Service, database_url: str) -> None:
    # Given another customer's cart holds the seat (their reservation has since lapsed, ours is new)
    seat = uuid.uuid4()
    theirs = reservation_created(customer="someone-else", seat=seat)
    service.publish("reservation-created", theirs)
    assert service.add_to_cart(theirs, who="someone-else").status == 200
    ours = reservation_created(seat=seat)
    service.publish("reservation-created", ours)
    # When we add the seat, Then 409
    assert_refused(database_url, lambda: service.add_to_cart(ours), 409, "Seat is already in another order")


def test_an_order_holds_at_most_ten_seats(service: Service, database_url: str) -> None:
    # Given a cart with ten seats
    reservations = [reservation_created() for _ in range(11)]
    service.publish("reservation-created", *reservations)
    for reservation in reservations[:10]:
        assert service.add_to_cart(reservation).status == 200
    # When an eleventh is added, Then it is refused
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservations[10]),
        400,
        "Order cannot hold more than 10 seats",
    )


# Malformed requests: 400 naming the field, nothing written.


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "Request body is not valid JSON"),
        ("[1, 2]", "Request body must be a JSON object"),
        ('{"price": 50.00, "userId": "user-123"}', "Field 'seatId' is required"),
        ('{"seatId": "nope", "price": 50.00, "userId": "user-123"}', "Field 'seatId' must be a UUID"),
        (
            '{"seatId": "550e8400-e29b-41d4-a716-446655440002", "userId": "user-123"}',
            "Field 'price' is required",
        ),
        (
            '{"seatId": "550e8400-e29b-41d4-a716-446655440002", "price": "50.00", "userId": "user-123"}',
            "Field 'price' must be a number",
        ),
        (
            '{"seatId": "550e8400-e29b-41d4-a716-446655440002", "price": 50, "userId": 123}',
            "Field 'userId' must be a string",
        ),
        (
            '{"seatId": "550e8400-e29b-41d4-a716-446655440002", "price": 50, "reservationId": "x"}',
            "Field 'reservationId' must be a UUID",
        ),
    ],
)
def test_malformed_bodies_are_refused_naming_the_problem(
    service: Service, database_url: str, raw: str, message: str
) -> None:
    assert_refused(database_url, lambda: service.post("/cart/add", headers=bearer(), raw_body=raw), 400, message)


def test_an_oversized_body_is_refused(service: Service, database_url: str) -> None:
    raw = json.dumps({"seatId": str(uuid.uuid4()), "price": 50, "guestToken": "g", "pad": "x" * 20_000})
    assert_refused(
        database_url,
        lambda: service.post("/cart/add", raw_body=raw),
        400,
        "Request body must be at most 16384 bytes",
    )


def test_a_body_that_is_not_json_by_content_type_is_refused(service: Service, database_url: str) -> None:
    assert_refused(
        database_url,
        lambda: service.post(
            "/cart/add", raw_body="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        415,
        "Content-Type must be application/json",
    )

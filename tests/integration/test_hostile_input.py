"""Bodies and tokens no client should send, found by hand: each is a 400 or a 401, never a 500,
and nothing is written."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from ordering_local.events import api_gateway_event
from ordering_local.invoke import invoke
from tests.support import Service, bearer, reservation_created, stored_state


def _add_to_cart(service: Service, body: str | bytes, headers: dict[str, str]) -> tuple[int, Any]:
    function = next(f for f in service.functions if f.name == "AddToCartFunction")
    event = api_gateway_event("POST", "/cart/add", headers={"Content-Type": "application/json", **headers}, body=body)
    result = invoke(function, event)
    return result["statusCode"], json.loads(result["body"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # as deep as the 16 KiB body allows: valid JSON (Python 3.13's parser takes it), walked
        # without recursion, and refused for what it lacks
        pytest.param('{"a":' * 2700 + "1" + "}" * 2700, "Field 'seatId' is required", id="nested-2700-deep"),
        pytest.param('{"a":' * 2700 + "1", "Request body is not valid JSON", id="nested-2700-deep-unclosed"),
        pytest.param(b'{"seatId": "\xff\xfe"}', "Request body must be JSON text in UTF-8", id="not-utf-8"),
        pytest.param('{"seatId": 1}'.encode("utf-16"), "Request body must be JSON text in UTF-8", id="utf-16"),
    ],
)
def test_a_body_no_parser_should_choke_on_is_a_400(
    service: Service, database_url: str, body: str | bytes, message: str
) -> None:
    # Given a stored state
    before = stored_state(database_url)
    # When add-to-cart receives the body
    status, reply = _add_to_cart(service, body, bearer())
    # Then it is refused as a bad request, and nothing changed
    assert (status, reply) == (400, {"error": message})
    assert stored_state(database_url) == before


@pytest.mark.parametrize("claim", ["sub", "email"])
def test_a_signed_token_whose_claim_holds_nul_is_never_a_500(service: Service, database_url: str, claim: str) -> None:
    # Given a seat reserved for the subject, and a correctly signed token with NUL in a claim
    subject = "user-nul\x00" if claim == "sub" else "user-123"
    reservation = reservation_created(customer=subject)
    service.publish("reservation-created", reservation)
    headers = bearer(subject, email="ana\x00@example.com" if claim == "email" else "ana@example.com")
    before = stored_state(database_url)
    # When it adds the seat
    reply = service.add_to_cart(reservation, who=None, headers=headers)
    # Then a NUL subject is no one (401); a NUL email is left out; nothing breaks
    if claim == "sub":
        assert (reply.status, reply.error) == (401, "Unauthorized")
        assert stored_state(database_url) == before
    else:
        assert reply.status == 200, reply.body


def test_a_media_type_in_capitals_is_json_and_the_contract_answers(service: Service, database_url: str) -> None:
    # Given a reserved seat
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    body = json.dumps({"reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50})
    upper = {"Content-Type": "Application/JSON; Charset=UTF-8"}
    before = stored_state(database_url)

    # When it is added with the media type in capitals, first without identity, then signed in
    anonymous = service.post("/cart/add", headers=upper, raw_body=body)
    unchanged = stored_state(database_url)
    signed_in = service.post("/cart/add", headers={**upper, **bearer()}, raw_body=body)

    # Then it is JSON like any other: the contract's 400 (nothing written), then the cart
    assert (anonymous.status, anonymous.error) == (400, "Either UserId or GuestToken must be provided")
    assert unchanged == before
    assert signed_in.status == 200, signed_in.body


def _reserved(service: Service, customer: str = "user-123") -> dict[str, Any]:
    reservation = reservation_created(customer=customer)
    service.publish("reservation-created", reservation)
    return reservation


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param("/cart/add", {"userId": "anon\x00ymous"}, "userId", id="cart-userId"),
        pytest.param("/cart/add", {"guestToken": "guest\x00token"}, "guestToken", id="cart-guestToken"),
        pytest.param("/cart/add", {"guestToken": "g", "note": ["ok", "x\x00"]}, "note.1", id="cart-unknown-field"),
        pytest.param("/orders/checkout", {"guestToken": "guest\x00token"}, "guestToken", id="checkout-guestToken"),
    ],
)
def test_a_nul_in_any_string_of_a_body_is_a_400_naming_the_field(
    service: Service, database_url: str, path: str, body: dict[str, Any], field: str
) -> None:
    # Given a reserved seat, and a body that holds a NUL character in one string
    reservation = _reserved(service)
    ids = {"reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50}
    request = {**(ids if path == "/cart/add" else {"orderId": str(uuid.uuid4())}), **body}
    before = stored_state(database_url)
    # When it is sent without a token
    reply = service.post(path, request)
    # Then it is refused, the field named, and nothing is written
    assert (reply.status, reply.error) == (400, f"Field '{field}' must not contain NUL characters")
    assert stored_state(database_url) == before


@pytest.mark.parametrize(
    ("email", "message"),
    [
        pytest.param("ana\x00@example.com", "Field 'guestToken' must not contain NUL characters", id="nul"),
        pytest.param("ana\x07@example.com", "Field 'guestToken' must be an email address", id="control"),
        pytest.param("ana at example.com", "Field 'guestToken' must be an email address", id="no-at"),
        pytest.param("ana@localhost", "Field 'guestToken' must be an email address", id="no-domain"),
    ],
)
def test_a_waitlist_email_that_is_not_an_address_is_a_400(
    service: Service, database_url: str, email: str, message: str
) -> None:
    # Given the Waitlist service's body with an email that is no address
    body = {"seatId": str(uuid.uuid4()), "price": 0, "guestToken": email, "concertEventId": str(uuid.uuid4())}
    before = stored_state(database_url)
    # When it places the order
    reply = service.post("/orders/waitlist", body, api="internal")
    # Then it is refused as a bad request, never a 500, and nothing is written
    assert (reply.status, reply.error) == (400, message)
    assert stored_state(database_url) == before


@pytest.mark.parametrize(
    ("header", "path"),
    [("X-Guest-Token", "/cart"), ("X-User-Id", "/orders"), ("X-Guest-Token", "/orders?cursor=abc")],
)
def test_a_nul_in_an_identity_header_is_a_400_naming_it(service: Service, header: str, path: str) -> None:
    # When a GET carries an identity header that holds a NUL character
    reply = service.get(path, {header: "abc\x00def"})
    # Then it is refused, the header named
    assert (reply.status, reply.error) == (400, f"Header '{header}' must not contain NUL characters")


def test_a_nul_in_the_cursor_is_a_400_naming_it(service: Service) -> None:
    # When a page is asked for with a cursor that holds a NUL character
    reply = service.get("/orders?cursor=abc%00def", {"X-Guest-Token": "guest-abc"})
    # Then it is refused, the field named
    assert (reply.status, reply.error) == (400, "Field 'cursor' must not contain NUL characters")

"""Bodies and tokens no client should send, found by hand: each is a 400 or a 401, never a 500,
and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from ordering_local.events import api_gateway_event
from ordering_local.invoke import invoke
from tests.support import Service, bearer, reservation_created, stored_state


def _add_to_cart(service: Service, body: str | bytes, headers: dict[str, str]) -> tuple[int, Any]:
    import json

    function = next(f for f in service.functions if f.name == "AddToCartFunction")
    event = api_gateway_event("POST", "/cart/add", headers={"Content-Type": "application/json", **headers}, body=body)
    result = invoke(function, event)
    return result["statusCode"], json.loads(result["body"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param('{"a":' * 971 + "1" + "}" * 971, "Request body is not valid JSON", id="nested-971-deep"),
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

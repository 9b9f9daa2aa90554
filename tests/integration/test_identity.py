"""Tokens the identity service did not issue, or no longer valid, are 401 and write nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from tests.support import USER, Service, reservation_created, stored_state, token


def _unsigned(sub: str = USER) -> str:
    """An `alg: none` token: a header and claims with no signature."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"sub": sub, "iss": "SpecKit.Identity", "aud": "SpecKit.Services", "exp": now + 3600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    "bad_token",
    [
        pytest.param(lambda: token(secret="not-the-identity-service-key-at-all-0123456"), id="wrong-signature"),
        pytest.param(lambda: token(audience="Someone.Else"), id="wrong-audience"),
        pytest.param(lambda: token(issuer="Evil.Identity"), id="wrong-issuer"),
        pytest.param(_unsigned, id="alg-none"),
        pytest.param(lambda: token(expires_in=dt.timedelta(minutes=-5)), id="expired"),
        pytest.param(lambda: token(algorithm="HS512"), id="other-algorithm"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
def test_a_bad_token_is_unauthorized_and_writes_nothing(service: Service, database_url: str, bad_token) -> None:
    # Given a reserved seat
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    before = stored_state(database_url)

    # When it is added with a token that must not be accepted
    reply = service.add_to_cart(reservation, headers={"Authorization": f"Bearer {bad_token()}"})

    # Then 401 and nothing changed
    assert (reply.status, reply.error) == (401, "Unauthorized")
    assert stored_state(database_url) == before


def test_a_bad_token_is_unauthorized_even_with_a_guest_token(service: Service, database_url: str) -> None:
    reservation = reservation_created(customer="guest-1")
    service.publish("reservation-created", reservation)
    reply = service.add_to_cart(reservation, who=None, guest="guest-1", headers={"Authorization": "Bearer nope"})
    assert (reply.status, reply.error) == (401, "Unauthorized")


def test_a_valid_token_without_user_id_makes_the_subject_the_user(service: Service) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    reply = service.add_to_cart(reservation, who=None, headers={"Authorization": f"Bearer {token()}"})
    assert reply.status == 200, reply.body
    assert reply.body["userId"] == USER


def test_a_guest_token_reaches_no_log_even_at_debug(
    service: Service, logs_at_debug: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given every logger at DEBUG
    reservation = reservation_created(customer="guest-5f2a9c")
    service.publish("reservation-created", reservation)
    # When a guest adds a seat to their cart
    reply = service.add_to_cart(reservation, who=None, guest="guest-5f2a9c")
    # Then it worked, and the guest token (a bearer credential) was logged nowhere
    assert reply.status == 200, reply.body
    assert "Calling API Route Handler" in logs_at_debug.text
    assert "guest-5f2a9c" not in logs_at_debug.text + capsys.readouterr().out

"""Who is calling, decided from the headers and body alone (docs/contract.md, "Who is calling"),
and the owner namespaces that keep one kind of caller from another's orders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ordering.config import settings
from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.domain.order import CART, WAITLIST
from ordering.http.identity import identify
from tests.support import bearer


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    settings.cache_clear()
    yield
    settings.cache_clear()


def _refused(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(errors.OrderingError) as refused:
        call()
    return refused.value.status, refused.value.message


def test_the_checks_come_in_the_contracts_order() -> None:
    # no identity at all
    assert _refused(lambda: identify({}, None, None)) == (400, "Either UserId or GuestToken must be provided")
    # a userId that is not the token's subject is 401, before a guest token beside the token is 400
    assert _refused(lambda: identify(bearer("ana"), "bob", "guest-1")) == (401, "Unauthorized")
    assert _refused(lambda: identify(bearer("ana"), "ana", "guest-1")) == (
        400, "A signed-in request cannot carry a guest token",
    )  # fmt: skip
    assert _refused(lambda: identify({**bearer("ana"), "X-Guest-Token": "guest-1"}, None, None))[0] == 400
    assert _refused(lambda: identify({"Authorization": "Bearer nope"}, None, "guest-1")) == (401, "Unauthorized")
    assert _refused(lambda: identify({}, "browser-1", "guest-1")) == (
        400, "A request cannot carry both a userId and a guest token",
    )  # fmt: skip


def test_each_caller_has_one_identity() -> None:
    assert identify(bearer("ana"), None, None) == Caller(user_id="ana", email="ana@example.com")
    assert identify({}, "browser-1", None) == Caller(anonymous_id="browser-1")
    assert identify({"x-user-id": "browser-1"}, None, None) == Caller(anonymous_id="browser-1")
    assert identify({}, None, "guest-1") == Caller(guest_token="guest-1")
    assert identify({}, None, None, internal=True) == Caller(internal=True)
    with pytest.raises(ValueError, match="one identity"):
        Caller(user_id="ana", guest_token="ana")


def test_anonymous_ids_can_be_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "ANONYMOUS_USER_IDS", "refuse")
    assert _refused(lambda: identify({}, "browser-1", None)) == (401, "Unauthorized")
    assert identify(bearer("ana"), "ana", None).user_id == "ana"


def test_the_same_string_is_a_different_owner_for_each_kind() -> None:
    keys = {Caller(user_id="x").owner_key, Caller(guest_token="x").owner_key, Caller(anonymous_id="x").owner_key}
    assert len(keys) == 3
    assert Caller(user_id="x").owner_key == "user:x"
    assert "x" not in (Caller(guest_token="x").owner_key or "").split(":")[1]
    # a reservation's customer id is one string: every kind matches it by its own credential
    assert Caller(user_id="x").customer_hash == Caller(anonymous_id="x").customer_hash


def test_a_wrong_environment_is_refused_naming_the_variable() -> None:
    # Given environments a deployer could get wrong; When they are read; Then each names its problem
    from ordering.config import ConfigurationError, Settings

    base = {"DATABASE_URL": "postgresql:///x"}
    for env, problem in [
        ({**base, "MAX_SEATS_PER_ORDER": "0"}, "MAX_SEATS_PER_ORDER"),
        ({**base, "JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({**base, "ANONYMOUS_USER_IDS": "maybe"}, "ANONYMOUS_USER_IDS"),
        ({"DATABASE_HOST": "proxy"}, "DATABASE_SECRET_ARN"),
    ]:
        with pytest.raises(ConfigurationError, match=problem):
            Settings.from_env(env)
    # and empty values count as unset, as SAM's empty defaults leave them
    read = Settings.from_env({**base, "JWT_SECRET": "", "SERVICE_ROLES": "a, b", "RESERVATION_CREATED_TOPIC": "rc"})
    assert (read.jwt_secret, read.topic("reservation-created")) == (None, "rc")
    assert read.service_roles == frozenset({"a", "b"})


@dataclass(frozen=True)
class _Owned:
    owner_key: str
    origin: str


def test_a_waitlist_order_is_owned_by_its_email_in_any_case_and_by_nothing_else() -> None:
    # Given a waitlist order of ana@example.com and a cart of the guest token "ana@example.com"
    email_key = Caller(guest_token="ana@example.com").owner_key
    assert email_key is not None
    waitlist, cart = _Owned(email_key, WAITLIST), _Owned(email_key, CART)
    # Then the email in other letters owns the waitlist order, not the cart; no other identity owns it
    assert Caller(guest_token="ANA@Example.com").owns(waitlist)
    assert not Caller(guest_token="ANA@Example.com").owns(cart)
    assert not Caller(anonymous_id="ana@example.com").owns(waitlist)
    assert not Caller(user_id="ana@example.com").owns(waitlist)

"""Token verification (PyJWT, as ordering.http.identity configures it): the identity
service's tokens are accepted with their claims, and every flawed or forged token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordering.config import Settings
from ordering.http.identity import MAX_TOKEN_CHARS, verified_claims

# 64 bytes: long enough for HS512 too
KEY = "identity-service-signing-key-0123456789abcdef0123456789abcdefghi"
OTHER_KEY = "someone-elses-signing-key-0123456789abcdef0123456789abcdefghijkl"
ISSUER, AUDIENCE = "SpecKit.Identity", "SpecKit.Services"
HOUR = 3600


def _config(algorithm: str = "HS256") -> Settings:
    return Settings.from_env({"DATABASE_URL": "postgresql:///unused", "JWT_SECRET": KEY, "JWT_ALGORITHM": algorithm})


def _part(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(header: Any, claims: Any, key: str = KEY, algorithm: str = "sha256") -> str:
    """A compact JWS over exactly this header and these claims, whatever they hold."""
    signing_input = f"{_part(header)}.{_part(claims)}"
    signature = hmac.new(key.encode(), signing_input.encode(), getattr(hashlib, algorithm)).digest()
    return f"{signing_input}.{_part(signature)}"


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "ana", "iss": ISSUER, "aud": AUDIENCE, "iat": now - 60, "exp": now + HOUR}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not _MISSING}


_MISSING = object()
HS256 = {"alg": "HS256", "typ": "JWT"}


def _ours(token: str, config: Settings | None = None) -> dict[str, Any] | None:
    try:
        return verified_claims(token, KEY, config or _config())
    except (jwt.InvalidTokenError, RecursionError):
        return None


def test_a_token_of_the_identity_service_is_accepted_with_its_claims() -> None:
    # Given a token PyJWT signs as the identity service does
    token = jwt.encode(_claims(email="ana@example.com", role="fulfillment"), KEY, algorithm="HS256")

    # When it is verified
    claims = _ours(token)

    # Then its claims come back
    assert claims is not None
    assert (claims["sub"], claims["email"], claims["role"]) == ("ana", "ana@example.com", "fulfillment")


def test_the_configured_hmac_algorithm_is_the_one_checked() -> None:
    # Given a service configured for HS512, and tokens signed with HS512 and HS256
    hs512 = _config("HS512")
    by_hs512 = _signed({"alg": "HS512"}, _claims(), algorithm="sha512")
    by_hs256 = _signed(HS256, _claims())

    # When both are verified; Then only the HS512 one is accepted
    assert _ours(by_hs512, hs512) == _claims()
    assert _ours(by_hs256, hs512) is None


_REFUSED = [
    ("alg none, unsigned", _part({"alg": "none"}) + "." + _part(_claims()) + "."),
    ("alg none, signed anyway", _signed({"alg": "none"}, _claims())),
    ("no alg", _signed({"typ": "JWT"}, _claims())),
    ("another HMAC than configured", _signed({"alg": "HS512"}, _claims(), algorithm="sha512")),
    ("RS256 named, HMAC-signed with the key", _signed({"alg": "RS256"}, _claims())),
    ("signed with another key", _signed(HS256, _claims(), key=OTHER_KEY)),
    ("claims changed after signing", _signed(HS256, _claims()).split(".")[0] + "." + _part(_claims(sub="eve")) + "."
     + _signed(HS256, _claims()).split(".")[2]),
    ("expired, past the leeway", _signed(HS256, _claims(exp=int(time.time()) - 60))),
    ("no expiry", _signed(HS256, _claims(exp=_MISSING))),
    ("expiry as a boolean", _signed(HS256, _claims(exp=True))),
    ("not yet valid (nbf)", _signed(HS256, _claims(nbf=int(time.time()) + HOUR))),
    ("issued in the future (iat)", _signed(HS256, _claims(iat=int(time.time()) + HOUR))),
    ("another issuer", _signed(HS256, _claims(iss="Evil.Identity"))),
    ("no issuer", _signed(HS256, _claims(iss=_MISSING))),
    ("another audience", _signed(HS256, _claims(aud="Someone.Else"))),
    ("an audience list without this service", _signed(HS256, _claims(aud=["Someone.Else"]))),
    ("an audience that is a number", _signed(HS256, _claims(aud=7))),
    ("no audience", _signed(HS256, _claims(aud=_MISSING))),
    ("no subject", _signed(HS256, _claims(sub=_MISSING))),
    ("an empty subject", _signed(HS256, _claims(sub=""))),
    ("a subject that is a number", _signed(HS256, _claims(sub=42))),
    ("a jti that is a number", _signed(HS256, _claims(jti=42))),
    ("a critical extension", _signed({"alg": "HS256", "crit": ["exp"]}, _claims())),
    ("an unencoded payload (b64: false)", _signed({"alg": "HS256", "b64": False}, _claims())),
    ("claims that are a list", _signed(HS256, ["sub", "ana"])),
    ("a header that is a string", _signed("HS256", _claims())),
    ("claims that are not JSON", _signed(HS256, b"sub=ana")),
    ("two segments", ".".join(_signed(HS256, _claims()).split(".")[:2])),
    ("four segments", _signed(HS256, _claims()) + ".e30"),
    ("a character outside base64url", _signed(HS256, _claims())[:-1] + "!"),
    ("garbage", "not.a.jwt"),
    ("a subject holding NUL, which PostgreSQL cannot store", _signed(HS256, _claims(sub="ana\x00"))),
    ("empty", ""),
    ("too long", _signed(HS256, _claims(padding="x" * MAX_TOKEN_CHARS))),
]  # fmt: skip


@pytest.mark.parametrize(("description", "token"), _REFUSED, ids=[d for d, _ in _REFUSED])
def test_flawed_tokens_are_refused(description: str, token: str) -> None:
    # Given a token with one flaw; When it is verified; Then it is refused
    assert _ours(token) is None, description


# Tokens from every combination of claim and header values, right and wrong, then maybe tampered.
_NOW = int(time.time())
_times = st.one_of(
    st.integers(_NOW + HOUR, _NOW + 100 * HOUR),
    st.integers(_NOW - 100 * HOUR, _NOW - HOUR),
    st.floats(_NOW - 100 * HOUR, _NOW + 100 * HOUR),
    st.sampled_from([True, None, "1999999999", float("inf"), [], {}]),
    st.just(_MISSING),
)
_claim_sets = st.fixed_dictionaries(
    {
        "exp": _times,
        "nbf": _times,
        "iat": _times,
        "iss": st.sampled_from([ISSUER, "Evil.Identity", 1, None, _MISSING]),
        "aud": st.sampled_from([AUDIENCE, "Other", [AUDIENCE], ["Other", AUDIENCE], [], [1, AUDIENCE], 3, _MISSING]),
        "sub": st.sampled_from(["ana", "", 5, None, _MISSING]),
        "jti": st.sampled_from(["abc", 5, _MISSING]),
        "email": st.sampled_from(["ana@example.com", _MISSING]),
    }
).map(lambda claims: {name: value for name, value in claims.items() if value is not _MISSING})
_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "HS384", "none", "RS256", "", None])},
    optional={
        "typ": st.sampled_from(["JWT", "at+jwt"]),
        "kid": st.text(max_size=5),
        "crit": st.just(["exp"]),
        "b64": st.booleans(),
    },
)
_tampering = st.sampled_from(["none", "pad", "flip-signature", "flip-claims", "truncate", "junk"])


def _tamper(token: str, how: str) -> str:
    header, claims, signature = token.split(".")
    if how == "pad":
        return token + "=" * (-len(token) % 4 or 4)
    if how == "flip-signature" and signature:
        return f"{header}.{claims}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    if how == "flip-claims" and claims:
        return f"{header}.{'e' if claims[0] != 'e' else 'f'}{claims[1:]}.{signature}"
    if how == "truncate":
        return token[:-2]
    if how == "junk":
        return token + "\u00e9"
    return token


_valid_claim_sets = st.fixed_dictionaries(
    {
        # any subject the service can store: not blank, no NUL (PostgreSQL text holds none)
        "sub": st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20).filter(str.strip),
        "iss": st.just(ISSUER),
        "aud": st.sampled_from([AUDIENCE, [AUDIENCE], ["Other", AUDIENCE]]),
        "exp": st.one_of(st.integers(_NOW + HOUR, _NOW + 100 * HOUR), st.floats(_NOW + HOUR, _NOW + 100 * HOUR)),
    },
    optional={
        "nbf": st.integers(_NOW - 100 * HOUR, _NOW - HOUR),
        "iat": st.floats(_NOW - 100 * HOUR, _NOW - HOUR),
        "jti": st.text(max_size=10),
        "email": st.emails(),
        "role": st.sampled_from(["fulfillment", "service", "admin"]),
        "scopes": st.lists(st.text(max_size=5), max_size=3),
    },
)
_valid_headers = st.fixed_dictionaries(
    {"alg": st.just("HS256")}, optional={"typ": st.sampled_from(["JWT", "at+jwt"]), "kid": st.text(max_size=8)}
)


@settings(max_examples=150, deadline=None)
@given(header=_valid_headers, claims=_valid_claim_sets)
def test_well_formed_tokens_are_accepted_with_their_claims(header: dict[str, Any], claims: dict[str, Any]) -> None:
    # Given a well-formed token of the identity service, whatever claims it carries
    token = _signed(header, claims)
    # When it is verified; Then it is accepted, with those claims
    assert _ours(token) == claims


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=_headers, claims=_claim_sets, how=st.sampled_from(["none", "flip-signature", "flip-claims", "truncate"]))
def test_a_forged_or_tampered_token_is_never_accepted(header: dict[str, Any], claims: dict[str, Any], how: str) -> None:
    # Given any token, signed with another key than the identity service's, maybe also tampered
    forged = _tamper(_signed(header, claims, OTHER_KEY), how)
    # or signed with the right key and then tampered with
    tampered = _tamper(_signed(header, claims, KEY), how) if how != "none" else None
    # When the service verifies them; Then it refuses both
    assert _ours(forged) is None
    if tampered is not None:
        assert _ours(tampered) is None

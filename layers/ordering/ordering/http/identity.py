"""Who is calling: a verified JWT (HS256, issuer and audience checked), a guest token, or neither.

The identity service signs its tokens with a shared key (HS256/384/512), so verifying one is an
HMAC and a handful of claim checks. They are done here with the standard library, following
RFC 7515/7519, rather than by PyJWT: PyJWT's general-purpose checks took four times the CPU of
this verifier, about a fifth of an add-to-cart (bench/RESULTS.md). tests/unit/test_token_verification.py
holds this verifier to PyJWT: nothing it accepts is refused by PyJWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from ordering.config import Settings, settings
from ordering.domain import errors
from ordering.domain.identity import Caller

GUEST_TOKEN_HEADER = "x-guest-token"  # noqa: S105 - a header name, not a secret
USER_ID_HEADER = "x-user-id"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _jwt_key(config: Settings) -> str:
    if config.jwt_secret is not None:
        return config.jwt_secret
    if config.jwt_secret_arn is not None:
        from ordering.secrets import secret_string

        return secret_string(config.jwt_secret_arn)
    raise RuntimeError("JWT_SECRET or JWT_SECRET_ARN must be set")


_HMAC_HASHES: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}
# API Gateway takes at most 10 KiB of headers; a token longer than this is nobody's.
MAX_TOKEN_CHARS = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class _Rejected(ValueError):
    """The token is not one to accept (the reason stays here: a 401 says no more)."""


def _segment(text: str) -> bytes:
    """One base64url segment as RFC 7515 writes it: no padding, nothing outside the alphabet,
    and canonical (no stray bits a second encoding of the same bytes would lack)."""
    if len(text) % 4 == 1 or not _BASE64URL.fullmatch(text):
        raise _Rejected("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=") != text.encode("ascii"):
        raise _Rejected("not canonical base64url")
    return data


def _json_object(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise _Rejected("not a JSON object")
    return value


def _is_time(value: object) -> TypeGuard[float]:
    """A NumericDate: seconds since the epoch, a finite JSON number (not a string, not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_claims(claims: dict[str, Any], config: Settings, now: float) -> None:
    exp = claims.get("exp")
    if not _is_time(exp) or exp <= now:
        raise _Rejected("expired or no expiry")
    for not_before in ("nbf", "iat"):
        if not_before in claims and (not _is_time(claims[not_before]) or claims[not_before] > now):
            raise _Rejected(f"{not_before} in the future")
    if not isinstance(claims.get("iss"), str) or claims["iss"] != config.jwt_issuer:
        raise _Rejected("issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise _Rejected("audience format")
    if config.jwt_audience not in audiences:
        raise _Rejected("audience")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _Rejected("subject")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise _Rejected("jti")


def verified_claims(token: str, key: str, config: Settings, now: float) -> dict[str, Any]:
    """The claims of a compact JWS signed with `key` by the configured HMAC algorithm, or
    _Rejected. The signature is checked before the claims are even parsed."""
    if len(token) > MAX_TOKEN_CHARS:
        raise _Rejected("too long")
    parts = token.split(".")
    if len(parts) != 3:  # header.payload.signature
        raise _Rejected("not a compact JWS")
    header_part, payload_part, signature_part = parts
    header = _json_object(_segment(header_part))
    # only the configured algorithm: never `none`, never one the token picks; no extensions
    # (`crit`, an unencoded `b64: false` payload) that this verifier would have to understand
    if header.get("alg") != config.jwt_algorithm or "crit" in header or "b64" in header:
        raise _Rejected("algorithm or header")
    signed = f"{header_part}.{payload_part}".encode("ascii")
    expected = hmac.new(key.encode("utf-8"), signed, _HMAC_HASHES[config.jwt_algorithm]).digest()
    if not hmac.compare_digest(expected, _segment(signature_part)):
        raise _Rejected("signature")
    claims = _json_object(_segment(payload_part))
    _check_claims(claims, config, now)
    return claims


def verify_token(token: str, config: Settings) -> dict[str, Any]:
    """The token's claims; any flaw (format, signature, algorithm, expiry, issuer, audience,
    subject) is 401."""
    key = _jwt_key(config)
    try:
        return verified_claims(token, key, config, time.time())
    except (ValueError, RecursionError):  # _Rejected, and malformed base64/UTF-8/JSON
        raise errors.Unauthorized() from None


def identify(
    headers: Mapping[str, str] | None,
    user_id: str | None,
    guest_token: str | None,
    *,
    internal: bool = False,
) -> Caller:
    """The caller of one request, in the contract's order of checks. `user_id`/`guest_token`
    come from the body (POST), else from the headers X-User-Id / X-Guest-Token (GET, PATCH,
    DELETE). On the internal API a request needs no identity: the network is the trust
    boundary (a token, when sent, must still be valid)."""
    authorization = _blank_to_none(_header(headers, "authorization"))
    user_id = _blank_to_none(user_id) or _blank_to_none(_header(headers, USER_ID_HEADER))
    guest_token = _blank_to_none(guest_token) or _blank_to_none(_header(headers, GUEST_TOKEN_HEADER))
    if authorization is None and user_id is None and guest_token is None:
        if internal:
            return Caller(internal=True)
        raise errors.IdentityRequired()
    config = settings()
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized()
        claims = verify_token(token.strip(), config)
        if user_id is not None and claims["sub"] != user_id:
            raise errors.Unauthorized()
        if guest_token is not None:
            raise errors.SignedInWithGuestToken()
        email, role = claims.get("email"), claims.get("role")
        return Caller(
            user_id=claims["sub"],
            email=email if isinstance(email, str) else None,
            role=role if isinstance(role, str) else None,
            internal=internal,
        )
    if user_id is not None:
        if not config.accept_anonymous_user_ids:
            raise errors.Unauthorized()
        if guest_token is not None:
            raise errors.TwoIdentities()
        return Caller(anonymous_id=user_id, internal=internal)
    return Caller(guest_token=guest_token, internal=internal)

"""Who is calling: a verified JWT (HS256, issuer and audience checked), a guest token, an
anonymous customer id, or neither. PyJWT verifies the tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from ordering.config import Settings, settings
from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.secrets import secret_string
from ordering.store import known_users

GUEST_TOKEN_HEADER = "x-guest-token"  # noqa: S105 - a header name, not a secret
USER_ID_HEADER = "x-user-id"
# API Gateway takes at most 10 KiB of headers; a token longer than this is nobody's.
MAX_TOKEN_CHARS = 8192
# the clocks of the identity service and of Lambda may disagree by this much
LEEWAY_S = 5


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A request header's value, its name matched without regard to case."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _identity_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """An identity header's value; one holding NUL is refused (no id or token holds one)."""
    value = header(headers, name)
    if value is not None and "\x00" in value:
        spelled = "-".join(part.capitalize() for part in name.split("-"))
        raise errors.InvalidRequest(f"Header '{spelled}' must not contain NUL characters")
    return value


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _jwt_key(config: Settings, *, refresh: bool = False) -> str:
    if config.jwt_secret is not None:
        return config.jwt_secret
    if config.jwt_secret_arn is not None:
        return secret_string(config.jwt_secret_arn, refresh=refresh)
    raise RuntimeError("JWT_SECRET or JWT_SECRET_ARN must be set")


def verified_claims(token: str, key: str, config: Settings) -> dict[str, Any]:
    """The claims of a token signed with `key` by the configured algorithm (never `none`, never
    one the token names), unexpired, of the configured issuer and audience, with a subject;
    else jwt.InvalidTokenError."""
    if len(token) > MAX_TOKEN_CHARS:
        raise jwt.InvalidTokenError("too long")
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[config.jwt_algorithm],
        audience=config.jwt_audience,
        issuer=config.jwt_issuer,
        leeway=LEEWAY_S,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    subject = claims.get("sub")
    # PostgreSQL text holds no NUL: a subject with one is nobody the service can store
    if not isinstance(subject, str) or not subject.strip() or "\x00" in subject:
        raise jwt.InvalidTokenError("subject")
    return claims


def verify_token(token: str, config: Settings) -> dict[str, Any]:
    """The token's claims; any flaw (format, signature, algorithm, expiry, issuer, audience,
    subject) is 401. A signature that does not verify with the cached key is tried once more with
    the key read again: the identity service may have rotated it."""
    try:
        try:
            return verified_claims(token, _jwt_key(config), config)
        except jwt.InvalidSignatureError:
            if config.jwt_secret_arn is None:
                raise
            return verified_claims(token, _jwt_key(config, refresh=True), config)
    except (jwt.InvalidTokenError, RecursionError):
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
    authorization = _blank_to_none(_identity_header(headers, "authorization"))
    user_id = _blank_to_none(user_id) or _blank_to_none(_identity_header(headers, USER_ID_HEADER))
    guest_token = _blank_to_none(guest_token) or _blank_to_none(_identity_header(headers, GUEST_TOKEN_HEADER))
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
        # a user id now, for good: no anonymous id or guest token equal to it claims its reservations
        known_users.signed_in(claims["sub"])
        email, role = claims.get("email"), claims.get("role")
        return Caller(
            user_id=claims["sub"],
            email=email if isinstance(email, str) and "\x00" not in email else None,
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

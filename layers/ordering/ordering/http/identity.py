"""Who is calling: a verified JWT (HS256, issuer and audience checked), a guest token, or neither."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from ordering.config import Settings, settings
from ordering.domain import errors
from ordering.domain.identity import Caller

GUEST_TOKEN_HEADER = "x-guest-token"  # noqa: S105 - a header name, not a secret


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


def verify_token(token: str, config: Settings) -> dict[str, Any]:
    """The token's claims; any flaw (signature, algorithm, expiry, issuer, audience) is 401."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _jwt_key(config),
            # only the configured algorithm: never `none`, never one the token names
            algorithms=[config.jwt_algorithm],
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError:
        raise errors.Unauthorized() from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise errors.Unauthorized()
    return claims


def identify(headers: Mapping[str, str] | None, user_id: str | None, guest_token: str | None) -> Caller:
    """The caller of one request. `user_id`/`guest_token` come from the body (POST) or are None
    (GET, where the guest token travels in X-Guest-Token)."""
    authorization = _blank_to_none(_header(headers, "authorization"))
    user_id = _blank_to_none(user_id)
    guest_token = _blank_to_none(guest_token) or _blank_to_none(_header(headers, GUEST_TOKEN_HEADER))
    if authorization is None and user_id is None and guest_token is None:
        raise errors.IdentityRequired()
    claims: dict[str, Any] | None = None
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized()
        claims = verify_token(token.strip(), settings())
    if user_id is not None and (claims is None or claims["sub"] != user_id):
        raise errors.Unauthorized()
    if claims is None:
        return Caller(guest_token=guest_token)
    email, role = claims.get("email"), claims.get("role")
    return Caller(
        user_id=claims["sub"],
        guest_token=guest_token,
        email=email if isinstance(email, str) else None,
        role=role if isinstance(role, str) else None,
    )

"""Tokens the local configuration accepts: what the platform's identity service signs (HS256,
its issuer and audience), for `ordering-local token`, the walk-throughs and the tests."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any


def mint_token(
    secret: str, subject: str, *, email: str | None = None, role: str | None = None, hours: float = 2.0
) -> str:
    import jwt

    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": os.environ.get("JWT_ISSUER", "SpecKit.Identity"),
        "aud": os.environ.get("JWT_AUDIENCE", "SpecKit.Services"),
        "iat": now,
        "exp": now + dt.timedelta(hours=hours),
    }
    if email:
        claims["email"] = email
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")

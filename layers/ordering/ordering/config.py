"""Settings, read once from the environment on first use and validated (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or wrong: a deploy-time mistake."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    # in AWS: RDS Proxy's endpoint, and the secret RDS manages for the cluster's user
    database_host: str | None
    database_port: int
    database_name: str
    database_sslmode: str
    database_secret_arn: str | None
    redis_url: str | None
    redis_key_prefix: str
    jwt_secret: str | None
    jwt_secret_arn: str | None
    jwt_issuer: str
    jwt_audience: str
    jwt_algorithm: str
    service_roles: frozenset[str]
    # ANONYMOUS_USER_IDS=accept|refuse: a body `userId` without a token (the web frontend's
    # per-session UUID) is an anonymous customer id, or 401
    accept_anonymous_user_ids: bool
    currency: str
    max_seats_per_order: int
    db_connect_timeout_s: int
    db_statement_timeout_ms: int
    redis_timeout_s: float
    redis_retry_after_s: float
    max_body_bytes: int
    cors_allow_origin: str | None
    # Kafka topic names, when they differ from the platform's (RESERVATION_CREATED_TOPIC=…)
    topic_names: Mapping[str, str]

    def topic(self, name: str) -> str:
        """The configured name of one of the platform's topics."""
        return self.topic_names.get(name, name)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def integer(name: str, default: int, minimum: int = 1) -> int:
            raw = env.get(name, "").strip() or str(default)
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
            if value < minimum:
                raise ConfigurationError(f"{name} must be at least {minimum}")
            return value

        def decimal_seconds(name: str, default: float) -> float:
            raw = env.get(name, "").strip() or str(default)
            try:
                return float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            raw = env.get(name, "").strip().lower() or allowed[0]
            if raw not in allowed:
                raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
            return raw

        settings = cls(
            database_url=env.get("DATABASE_URL") or None,
            database_host=env.get("DATABASE_HOST") or None,
            database_port=integer("DATABASE_PORT", 5432),
            database_name=env.get("DATABASE_NAME") or "ordering",
            database_sslmode=env.get("DATABASE_SSLMODE") or "prefer",
            database_secret_arn=env.get("DATABASE_SECRET_ARN") or None,
            redis_url=env.get("REDIS_URL") or None,
            redis_key_prefix=env.get("REDIS_KEY_PREFIX", "ordering:"),
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_secret_arn=env.get("JWT_SECRET_ARN") or None,
            jwt_issuer=env.get("JWT_ISSUER", "SpecKit.Identity"),
            jwt_audience=env.get("JWT_AUDIENCE", "SpecKit.Services"),
            jwt_algorithm=env.get("JWT_ALGORITHM", "HS256"),
            service_roles=frozenset(
                role.strip() for role in env.get("SERVICE_ROLES", "fulfillment,service").split(",") if role.strip()
            ),
            accept_anonymous_user_ids=choice("ANONYMOUS_USER_IDS", ("accept", "refuse")) == "accept",
            currency=env.get("ORDER_CURRENCY", "").strip() or "USD",
            max_seats_per_order=integer("MAX_SEATS_PER_ORDER", 10),
            db_connect_timeout_s=integer("DB_CONNECT_TIMEOUT_S", 3),
            db_statement_timeout_ms=integer("DB_STATEMENT_TIMEOUT_MS", 5000),
            redis_timeout_s=decimal_seconds("REDIS_TIMEOUT_S", 0.25),
            redis_retry_after_s=decimal_seconds("REDIS_RETRY_AFTER_S", 5.0),
            max_body_bytes=integer("MAX_BODY_BYTES", 16384),
            cors_allow_origin=env.get("CORS_ALLOW_ORIGIN") or None,
            topic_names={
                key.removesuffix("_TOPIC").lower().replace("_", "-"): value
                for key, value in env.items()
                if key.endswith("_TOPIC") and value
            },
        )
        if settings.database_url is None and (settings.database_secret_arn is None or settings.database_host is None):
            raise ConfigurationError("DATABASE_URL, or DATABASE_HOST with DATABASE_SECRET_ARN, must be set")
        if settings.jwt_algorithm not in {"HS256", "HS384", "HS512"}:
            raise ConfigurationError("JWT_ALGORITHM must be one of HS256, HS384, HS512")
        return settings


@cache
def settings() -> Settings:
    """The settings of this execution environment, read on first use."""
    return Settings.from_env(os.environ)

"""Settings: one validated pydantic model, read from the environment on first use (never at
import time). A variable left empty counts as unset, as SAM's empty defaults leave them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or wrong: a deploy-time mistake."""


Positive = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    database_url: str | None = Field(None, alias="DATABASE_URL")
    # in AWS: RDS Proxy's endpoint, and the secret RDS manages for the cluster's user
    database_host: str | None = Field(None, alias="DATABASE_HOST")
    database_port: Positive = Field(5432, alias="DATABASE_PORT")
    database_name: str = Field("ordering", alias="DATABASE_NAME")
    database_sslmode: str = Field("prefer", alias="DATABASE_SSLMODE")
    database_secret_arn: str | None = Field(None, alias="DATABASE_SECRET_ARN")
    # the CA bundle that verifies the proxy's certificate (with DATABASE_SSLMODE=verify-full)
    database_sslrootcert: str | None = Field(None, alias="DATABASE_SSLROOTCERT")
    # the migrations only: the service's own database user, which they create and grant DML to
    service_database_secret_arn: str | None = Field(None, alias="SERVICE_DATABASE_SECRET_ARN")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    redis_key_prefix: str = Field("ordering:", alias="REDIS_KEY_PREFIX")
    # the key of the HMACs that customer ids are kept as in dead letters (ordering/redaction.py)
    redaction_secret: str | None = Field(None, alias="REDACTION_SECRET", repr=False)
    redaction_secret_arn: str | None = Field(None, alias="REDACTION_SECRET_ARN")
    jwt_secret: str | None = Field(None, alias="JWT_SECRET", repr=False)
    jwt_secret_arn: str | None = Field(None, alias="JWT_SECRET_ARN")
    jwt_issuer: str = Field("SpecKit.Identity", alias="JWT_ISSUER")
    jwt_audience: str = Field("SpecKit.Services", alias="JWT_AUDIENCE")
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field("HS256", alias="JWT_ALGORITHM")
    service_roles: frozenset[str] = Field(frozenset({"fulfillment", "service"}), alias="SERVICE_ROLES")
    # ANONYMOUS_USER_IDS=accept|refuse: a body `userId` without a token (the web frontend's
    # per-session UUID) is an anonymous customer id, or 401
    anonymous_user_ids: Literal["accept", "refuse"] = Field("accept", alias="ANONYMOUS_USER_IDS")
    currency: str = Field("USD", alias="ORDER_CURRENCY")
    max_seats_per_order: Positive = Field(10, alias="MAX_SEATS_PER_ORDER")
    # the seats of one event a customer may hold across their live orders (0: no limit), where
    # the copy of the Catalog's prices knows the seat's event; an on-sale lowers it (README)
    max_seats_per_event: int = Field(10, ge=0, alias="MAX_SEATS_PER_EVENT")
    db_connect_timeout_s: Positive = Field(3, alias="DB_CONNECT_TIMEOUT_S")
    # how long an API request waits on the database, at most, before its 503: under overload a
    # request held for the function's whole timeout holds an execution environment with it
    api_request_budget_s: Seconds = Field(3.0, alias="API_REQUEST_BUDGET_S")
    db_statement_timeout_ms: Positive = Field(5000, alias="DB_STATEMENT_TIMEOUT_MS")
    redis_timeout_s: Seconds = Field(0.25, alias="REDIS_TIMEOUT_S")
    redis_retry_after_s: Seconds = Field(5.0, alias="REDIS_RETRY_AFTER_S")
    max_body_bytes: Positive = Field(16384, alias="MAX_BODY_BYTES")
    cors_allow_origin: str | None = Field(None, alias="CORS_ALLOW_ORIGIN")
    # the platform's Catalog, which owns seat prices (empty: prices are not verified, the
    # client's price stands); each HTTP attempt's timeout, and what one request may spend
    # refreshing the copy when a seat's price is missing
    catalog_url: str | None = Field(None, alias="CATALOG_URL", pattern=r"^https?://\S+$")
    catalog_timeout_s: Seconds = Field(2.0, alias="CATALOG_TIMEOUT_S")
    catalog_miss_budget_s: Seconds = Field(3.0, alias="CATALOG_MISS_BUDGET_S")
    # a copy not refreshed for this long is reported stale by /health/ready
    catalog_stale_after_s: Seconds = Field(1800.0, alias="CATALOG_STALE_AFTER_S")
    # how long the pruning function keeps each kind of row (days; abandoned carts: hours)
    ledger_retention_days: Positive = Field(8, alias="LEDGER_RETENTION_DAYS")
    reservation_retention_days: Positive = Field(7, alias="RESERVATION_RETENTION_DAYS")
    dead_letter_retention_days: Positive = Field(30, alias="DEAD_LETTER_RETENTION_DAYS")
    draft_retention_hours: Positive = Field(24, alias="DRAFT_RETENTION_HOURS")
    outbox_retention_days: Positive = Field(7, alias="OUTBOX_RETENTION_DAYS")
    # where the outbox relay publishes: MSK's IAM listener (port 9098) with KAFKA_AUTH=iam
    kafka_bootstrap_servers: str | None = Field(None, alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_auth: Literal["none", "iam"] = Field("none", alias="KAFKA_AUTH")
    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    # Kafka topic names, when they differ from the platform's (RESERVATION_CREATED_TOPIC=…)
    topic_names: Mapping[str, str] = Field(default_factory=dict)

    @property
    def verifies_prices(self) -> bool:
        """Whether prices come from the Catalog (else the client's price stands)."""
        return self.catalog_url is not None

    @property
    def accept_anonymous_user_ids(self) -> bool:
        return self.anonymous_user_ids == "accept"

    @property
    def retention(self) -> dict[str, timedelta]:
        """What the pruning function keeps, by kind of row (store/pruning.py)."""
        return {
            "consumed_events": timedelta(days=self.ledger_retention_days),
            "reservations": timedelta(days=self.reservation_retention_days),
            "dead_letters": timedelta(days=self.dead_letter_retention_days),
            "idempotency_records": timedelta(0),  # each record carries its own expiry (24 h)
            "abandoned_drafts": timedelta(hours=self.draft_retention_hours),
            "outbox": timedelta(days=self.outbox_retention_days),
        }

    def topic(self, name: str) -> str:
        """The configured name of one of the platform's topics."""
        return self.topic_names.get(name, name)

    @field_validator("service_roles", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(role.strip() for role in value.split(",") if role.strip())
        return value

    @field_validator("anonymous_user_ids", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _database_reachable(self) -> Settings:
        if self.database_url is None and (self.database_secret_arn is None or self.database_host is None):
            raise ValueError("DATABASE_URL, or DATABASE_HOST with DATABASE_SECRET_ARN, must be set")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {name: value for name, value in env.items() if value.strip()}
        values["topic_names"] = {
            name.removesuffix("_TOPIC").lower().replace("_", "-"): value
            for name, value in values.items()
            if name.endswith("_TOPIC")
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigurationError(problems) from None


@cache
def settings() -> Settings:
    """The settings of this execution environment, read on first use."""
    return Settings.from_env(os.environ)

"""The Kafka producer of the outbox relay (confluent-kafka): idempotent, acknowledged by every
in-sync replica, made once per execution environment and reused by later invocations. On AWS
it authenticates to MSK with IAM: the aws-msk-iam-sasl-signer package signs the OAUTHBEARER
token with the function's role."""

from __future__ import annotations

import threading
from typing import Any

from ordering.config import ConfigurationError, settings

_local = threading.local()

# how long the broker has to acknowledge a message before the relay gives up on it this round
DELIVERY_TIMEOUT_MS = 10_000


def _msk_iam_token(_config: str) -> tuple[str, float]:
    # the relay function's own dependencies, not the layer's (template.yaml: OutboxRelayFunction)
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # noqa: PLC0415

    token, expires_ms = MSKAuthTokenProvider.generate_auth_token(settings().aws_region)
    return token, expires_ms / 1000


def configuration() -> dict[str, Any]:
    config = settings()
    if not config.kafka_bootstrap_servers:
        raise ConfigurationError("KAFKA_BOOTSTRAP_SERVERS is not set")
    found: dict[str, Any] = {
        "bootstrap.servers": config.kafka_bootstrap_servers,
        "client.id": "ordering-outbox-relay",
        # no duplicate and no reordering from the producer's own retries, within a partition
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
    }
    if config.kafka_auth == "iam":
        found.update({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": _msk_iam_token})
    return found


def producer() -> Any:
    """The environment's producer (made anew when the settings changed)."""
    from confluent_kafka import Producer  # noqa: PLC0415 - the relay function's own dependency

    if getattr(_local, "settings", None) is not settings() or getattr(_local, "producer", None) is None:
        _local.producer = Producer(configuration())
        _local.settings = settings()
        _local.producer.poll(0)  # an IAM token is fetched on the first poll
    return _local.producer


def discard() -> None:
    """Forget the environment's producer (after a fatal error): the next call makes a new one."""
    _local.producer = None

"""Builders of the events Lambda hands to the functions: API Gateway REST proxy events and
Amazon MSK batches. The local runner and the tests use these, never copied JSON blobs."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs


def api_gateway_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    query: str = "",
    body: str | bytes | Mapping[str, Any] | None = None,
    stage: str = "local",
    stage_variables: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event, as `sam local start-api` builds it."""
    if isinstance(body, Mapping):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    is_base64 = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    multi_query = {key: values for key, values in parse_qs(query, keep_blank_values=True).items()}
    request_id = str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": dict(headers or {}),
        "multiValueHeaders": {key: [value] for key, value in (headers or {}).items()},
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": dict(stage_variables) if stage_variables else None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourcePath": resource or path,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": "ordering-local"},
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message as a producer would send it."""

    topic: str
    value: bytes | str | Mapping[str, Any] | None
    key: bytes | str | None = None
    partition: int = 0
    offset: int = 0
    timestamp_ms: int | None = None  # when it was produced; now, for a message built here
    timestamp_type: str = "CREATE_TIME"
    headers: tuple[tuple[str, bytes], ...] = ()

    def value_bytes(self) -> bytes | None:
        if self.value is None or isinstance(self.value, bytes):
            return self.value
        if isinstance(self.value, str):
            return self.value.encode()
        return json.dumps(self.value, default=_number).encode()


def _number(value: object) -> float:
    """A Decimal in a test's or a sample's payload, written as the JSON number a producer sends."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _b64(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def msk_event(
    messages: Iterable[Message], *, cluster: str = "local", bootstrap_servers: str = "localhost:9092"
) -> dict[str, Any]:
    """An Amazon MSK event-source batch: records grouped by `topic-partition`, base64 keys and
    values, each header a name → list of the value's bytes."""
    records: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        records.setdefault(f"{message.topic}-{message.partition}", []).append(
            {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "timestamp": message.timestamp_ms if message.timestamp_ms is not None else int(time.time() * 1000),
                "timestampType": message.timestamp_type,
                "key": _b64(message.key),
                "value": _b64(message.value_bytes()),
                "headers": [{name: list(value)} for name, value in message.headers],
            }
        )
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": f"arn:aws:kafka:us-east-1:000000000000:cluster/{cluster}/{uuid.UUID(int=0)}-1",
        "bootstrapServers": bootstrap_servers,
        "records": records,
    }


# The key each producer puts on its messages (docs/contract.md, "Events consumed").
_KEY_FIELDS = {
    "reservation-created": ("seatId",),
    "reservation-expired": ("seatId",),
    "payment-succeeded": ("paymentId",),
    "payment-failed": ("paymentId",),
    "ticket-issued": ("order_id", "orderId"),
}


def message_key(topic: str, payload: Any) -> str | None:
    if not isinstance(payload, Mapping):
        return None
    for name in _KEY_FIELDS.get(topic, ()):
        if payload.get(name):
            value = str(payload[name])
            return value.replace("-", "") if topic == "reservation-created" else value
    return None

"""Amazon MSK event-source records: base64 keys and values, grouped by `topic-partition`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, TypedDict


class ItemIdentifier(TypedDict):
    partition: str
    offset: int


class BatchItemFailure(TypedDict):
    itemIdentifier: ItemIdentifier


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None


def batch_item_failure(topic: str, partition: int, offset: int) -> BatchItemFailure:
    """A record for Lambda to retry; it names the partition as `records` does: `topic-N`."""
    return {"itemIdentifier": {"partition": f"{topic}-{partition}", "offset": offset}}


def _b64(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        # an undecodable value is still a record: it is handed on as raw bytes and refused there
        return str(value).encode("utf-8", "replace")


def records(event: dict[str, Any]) -> list[KafkaRecord]:
    """Every record of an MSK event, in partition order."""
    found: list[KafkaRecord] = []
    for batch in (event.get("records") or {}).values():
        for raw in batch:
            found.append(
                KafkaRecord(
                    topic=str(raw["topic"]),
                    partition=int(raw["partition"]),
                    offset=int(raw["offset"]),
                    key=_b64(raw.get("key")),
                    value=_b64(raw.get("value")),
                    timestamp=raw.get("timestamp"),
                )
            )
    found.sort(key=lambda record: (record.topic, record.partition, record.offset))
    return found

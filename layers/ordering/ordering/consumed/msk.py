"""Amazon MSK event-source records: base64 keys and values, grouped by `topic-partition`."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, TypedDict

from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord


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


def _decoded(record: KafkaEventRecord, part: str) -> bytes | None:
    """A record's key or value as bytes. A value that is not base64 is still a record: it is
    handed on as its raw text and refused (kept as a dead letter) where it is parsed."""
    encoded = record.get(part)
    if encoded is None:
        return None
    try:
        decoded: bytes | None = record.decoded_key if part == "key" else record.decoded_value
    except (binascii.Error, TypeError, ValueError):
        return str(encoded).encode("utf-8", "replace")
    return decoded


def records(event: dict[str, Any]) -> list[KafkaRecord]:
    """Every record of an MSK event (read with Powertools' KafkaEvent), in partition order."""
    if not event.get("records"):
        return []
    found = [
        KafkaRecord(
            topic=record.topic,
            partition=int(record.partition),
            offset=int(record.offset),
            key=_decoded(record, "key"),
            value=_decoded(record, "value"),
            timestamp=record.get("timestamp"),
        )
        for record in KafkaEvent(event).records
    ]
    found.sort(key=lambda record: (record.topic, record.partition, record.offset))
    return found

"""Apply a batch of Kafka records set-based, isolating the one that fails.

Per topic, every record is parsed first. A record that can never succeed (not JSON, wrong
schema) is logged and counted and not reported, so its partition moves on. The parsed
records of a topic are applied in one call (a few statements for the whole batch); if that
call fails, they are applied one at a time to find the failing record. A record that fails
for any other reason than being unprocessable (the database is down, or a bug) is reported
as a batch item failure, with every later record of its partition, so Lambda retries them
in order and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from ordering.domain.errors import ServiceUnavailable
from ordering.events.msk import BatchResponse, KafkaRecord, records
from ordering.observability import logger, metrics

Payload = TypeVar("Payload")


class UnprocessableRecord(Exception):
    """A record that will never succeed, however often it is retried."""


@dataclass(frozen=True, slots=True)
class TopicHandler(Generic[Payload]):
    parse: Callable[[bytes | None], Payload]
    apply: Callable[[Sequence[Payload]], Any]


def _refuse(record: KafkaRecord, reason: str) -> None:
    logger.error(
        "unprocessable record skipped",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason,
    )
    metrics.add_metric(name="UnprocessableRecords", unit=MetricUnit.Count, value=1)


def consume(event: dict[str, Any], topics: Mapping[str, TopicHandler[Any]]) -> BatchResponse:
    received = records(event)
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=len(received))
    by_topic: dict[str, list[tuple[KafkaRecord, Any]]] = {}
    for record in received:
        handler = topics.get(record.topic)
        if handler is None:
            _refuse(record, "no handler for this topic")
            continue
        try:
            by_topic.setdefault(record.topic, []).append((record, handler.parse(record.value)))
        except UnprocessableRecord as exc:
            _refuse(record, str(exc))

    failed: list[KafkaRecord] = []
    for topic, parsed in by_topic.items():
        failed.extend(_apply(topics[topic], parsed))
    return {"batchItemFailures": [record.failure for record in failed]}


def _apply(handler: TopicHandler[Any], parsed: list[tuple[KafkaRecord, Any]]) -> list[KafkaRecord]:
    """Apply set-based; on failure, one at a time. Returns the records to retry."""
    try:
        handler.apply([payload for _, payload in parsed])
        return []
    except ServiceUnavailable:
        logger.warning("batch not applied, will be retried", records=len(parsed))
        return [record for record, _ in parsed]
    except Exception:
        logger.exception("batch apply failed; isolating the failing record")

    retry: list[KafkaRecord] = []
    waiting: set[str] = set()  # partitions held back behind a record to retry
    for record, payload in parsed:
        if record.partition_key in waiting:
            retry.append(record)
            continue
        try:
            handler.apply([payload])
        except UnprocessableRecord as exc:
            _refuse(record, str(exc))
        except Exception as exc:
            # Not known to be permanent (the database is down, or a bug here): retry it, and
            # hold back the rest of its partition so that order within the partition holds.
            if not isinstance(exc, ServiceUnavailable):
                logger.exception("record failed", topic=record.topic, partition=record.partition, offset=record.offset)
            waiting.add(record.partition_key)
            retry.append(record)
    return retry

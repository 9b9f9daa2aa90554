"""Apply a batch of Kafka records set-based, isolating the one that fails.

Per topic, every record is parsed first. A record that can never succeed (not JSON, wrong
schema, a NUL in a string, a string longer than its column, unknown order) is kept in the
dead-letter table, logged and counted, and not reported, so its partition moves on at once.
The parsed records of a topic are applied in one call (a few statements for the whole batch);
if that call fails, they are applied one at a time to find the failing record. One that the
database refuses for its own values (a data error, a check) is unprocessable too. A record
that fails for any other reason (the database is down, or a bug) is reported as a batch item
failure, with every later record of its partition, so Lambda retries them in order and
nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aws_lambda_powertools.metrics import MetricUnit

from ordering.config import settings
from ordering.consumed.msk import BatchResponse, KafkaRecord, batch_item_failure, records
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger, metrics
from ordering.store.ledger import DeadLetter, Delivery
from ordering.usecases.dead_letters import keep_dead_letters


class UnprocessableRecord(Exception):
    """A record that will never succeed, however often it is retried."""


# What PostgreSQL says of a value itself, whatever else is stored: a record that meets one of
# these alone will meet it on every retry (a value out of range, text it cannot hold, a check).
_ALWAYS_REFUSED = (psycopg.errors.DataError, psycopg.errors.CheckViolation, psycopg.errors.NotNullViolation)


@dataclass(frozen=True, slots=True)
class TopicHandler[Payload]:
    parse: Callable[[bytes | None], Payload]
    apply: Callable[[Sequence[tuple[Delivery, Payload]]], Any]


def delivery(record: KafkaRecord) -> Delivery:
    return Delivery(record.topic, record.partition, record.offset, record.key, record.value)


def consume(event: dict[str, Any], handlers: Mapping[str, TopicHandler[Any]]) -> BatchResponse:
    """Apply an MSK batch; `handlers` are keyed by the platform's topic names, which the
    configuration may rename (see Settings.topic)."""
    config = settings()
    topics = {config.topic(name): handler for name, handler in handlers.items()}
    received = records(event)
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=len(received))
    refused: list[tuple[KafkaRecord, str]] = []
    by_topic: dict[str, list[tuple[Delivery, Any]]] = {}
    for record in received:
        handler = topics.get(record.topic)
        if handler is None:
            refused.append((record, "no handler for this topic"))
            continue
        try:
            payload = handler.parse(record.value)
        except UnprocessableRecord as exc:
            refused.append((record, str(exc)))
            continue
        by_topic.setdefault(record.topic, []).append((delivery(record), payload))

    failed: list[Delivery] = []
    if refused:
        failed.extend(_keep([DeadLetter(delivery(record), reason) for record, reason in refused]))
    for topic, parsed in by_topic.items():
        failed.extend(_apply(topics[topic], parsed))
    return {"batchItemFailures": [batch_item_failure(d.topic, d.partition, d.offset) for d in failed]}


def _keep(letters: list[DeadLetter]) -> list[Delivery]:
    """Dead-letter unprocessable records; if that cannot be done now, retry them."""
    try:
        keep_dead_letters(letters)
    except Exception:
        logger.exception("dead letters not stored; their records will be retried")
        return [letter.delivery for letter in letters]
    return []


def _apply(handler: TopicHandler[Any], parsed: list[tuple[Delivery, Any]]) -> list[Delivery]:
    """Apply set-based; on failure, one at a time. Returns the records to retry."""
    try:
        handler.apply(parsed)
        return []
    except ServiceUnavailable:
        logger.warning("batch not applied, will be retried", records=len(parsed))
        return [record for record, _ in parsed]
    except Exception:
        logger.exception("batch apply failed; isolating the failing record")

    retry: list[Delivery] = []
    waiting: set[tuple[str, int]] = set()  # partitions held back behind a record to retry
    for record, payload in parsed:
        partition = (record.topic, record.partition)
        if partition in waiting:
            retry.append(record)
            continue
        try:
            handler.apply([(record, payload)])
        except UnprocessableRecord as exc:
            retry.extend(_keep([DeadLetter(record, str(exc))]))
        except _ALWAYS_REFUSED as exc:
            logger.error("record refused by the database", topic=record.topic, error=type(exc).__name__)
            retry.extend(_keep([DeadLetter(record, f"refused by the database: {type(exc).__name__}")]))
        except Exception as exc:
            # Not known to be permanent (the database is down, or a bug here): retry it, and
            # hold back the rest of its partition so that order within the partition holds.
            if not isinstance(exc, ServiceUnavailable):
                logger.exception("record failed", topic=record.topic, partition=record.partition, offset=record.offset)
            waiting.add(partition)
            retry.append(record)
    return retry

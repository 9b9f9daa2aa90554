"""Keep records that can never succeed, for a person to inspect, and say so."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from ordering.observability import logger, metrics
from ordering.store import ledger
from ordering.store.db import session
from ordering.store.ledger import DeadLetter


def report_dead_letters(letters: Sequence[DeadLetter]) -> None:
    """Log each dead letter at error level and count them (metric DeadLetters, alarmed on)."""
    for letter in letters:
        logger.error(
            "record kept as a dead letter",
            topic=letter.delivery.topic,
            partition=letter.delivery.partition,
            offset=letter.delivery.offset,
            reason=letter.reason,
        )
    if letters:
        metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=len(letters))


def keep_dead_letters(letters: Sequence[DeadLetter]) -> None:
    with session() as connection, connection.cursor() as cursor:
        ledger.record_dead_letters(cursor, letters)
    report_dead_letters(letters)

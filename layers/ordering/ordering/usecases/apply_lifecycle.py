"""payment-succeeded, payment-failed, ticket-issued, reservation-expired: move orders along.

A batch is applied in one transaction of two round trips: the store claims the events, locks
and reads the orders they name (store/lifecycle.py), the domain folds the batch over them
(domain/batch.py), and the store writes the result and commits. The batch is applied again,
from the start, when what it read changed under it: an event id claimed at the same moment by
another batch, or a seat a revival would take back taken by another order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from aws_lambda_powertools.metrics import MetricUnit

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.domain.batch import ClaimedMeanwhile, Consumed, Outcome, fold
from ordering.observability import logger, metrics
from ordering.store.db import session
from ordering.store.ledger import DeadLetter, Delivery
from ordering.store.lifecycle import SeatTakenMeanwhile, batch_transaction
from ordering.usecases.clock import utc_now
from ordering.usecases.dead_letters import report_dead_letters

_ATTEMPTS = 3


def apply_lifecycle(
    topic: str,
    batch: Sequence[Consumed[Delivery]],
    *,
    cache: ReservationCache | None = None,
    now: datetime | None = None,
) -> Outcome[Delivery]:
    with session() as connection:
        outcome, dead_letters = _applied(connection, topic, batch, now or utc_now())
    for _, event_id, conflict in outcome.conflicts:
        logger.error(
            "order conflict recorded",
            topic=topic,
            event_id=event_id,
            order_id=str(conflict.order_id),
            kind=conflict.kind,
            resolution=conflict.resolution,
            amount=str(conflict.amount) if conflict.amount is not None else None,
            order_total=str(conflict.order_total),
        )
    for order_id in outcome.revived:
        logger.info("order cancelled by a payment failure is live again", topic=topic, order_id=str(order_id))
    if outcome.conflicts:
        metrics.add_metric(name="OrderConflicts", unit=MetricUnit.Count, value=len(outcome.conflicts))
    report_dead_letters(dead_letters)
    if outcome.expired:
        (cache or reservation_cache()).evict(outcome.expired)
    return outcome


def _applied(
    connection: psycopg.Connection[Any], topic: str, batch: Sequence[Consumed[Delivery]], now: datetime
) -> tuple[Outcome[Delivery], list[DeadLetter]]:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with batch_transaction(connection) as transaction:
                outcome = fold(topic, batch, transaction.claim_lock_and_read(topic, batch))
                dead_letters = [DeadLetter(item.source, reason) for item, reason in outcome.refused]
                transaction.write_and_commit(outcome, dead_letters, now)
            return outcome, dead_letters
        except ClaimedMeanwhile:
            # a ticket or payment id consumed at the same moment on another partition (for
            # another order, or the same): never to be taken for a redelivery unseen
            if attempt == _ATTEMPTS:
                raise
            logger.warning("an event was claimed by another batch meanwhile; applying the batch again", attempt=attempt)
        except SeatTakenMeanwhile:
            if attempt == _ATTEMPTS:
                raise
            logger.warning("a revived order's seat was taken meanwhile; applying the batch again", attempt=attempt)
    raise AssertionError("unreachable")  # the last attempt returns or raises

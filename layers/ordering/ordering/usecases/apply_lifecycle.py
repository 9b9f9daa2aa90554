"""payment-succeeded, payment-failed, ticket-issued, reservation-expired: move orders along."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.observability import logger, metrics
from ordering.store.db import session
from ordering.store.lifecycle import Consumed, Outcome, apply_batch
from ordering.usecases.clock import utc_now
from ordering.usecases.dead_letters import report_dead_letters


def apply_lifecycle(
    topic: str, batch: Sequence[Consumed], *, cache: ReservationCache | None = None, now: datetime | None = None
) -> Outcome:
    with session() as connection:
        outcome = apply_batch(connection, topic, batch, now or utc_now())
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
    report_dead_letters(outcome.dead_letters)
    if outcome.expired:
        (cache or reservation_cache()).evict(outcome.expired)
    return outcome

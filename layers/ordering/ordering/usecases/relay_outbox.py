"""The outbox relay: publish the events the order changes wrote, in order per order, at least
once, marking each published only once the broker acknowledged it.

One round: claim up to BATCH events (each order's oldest unpublished one), produce them keyed
by order id, wait for the acknowledgements, mark the acknowledged ones, commit. The relay
runs rounds until its time is spent, at once while events wait and every IDLE_WAIT_S when
none do; while the broker is unreachable it waits longer between rounds, and the API, which
only writes outbox rows, goes on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger, metrics
from ordering.published import producer as producers
from ordering.published.events import MODELS, OrderEvent, serialised
from ordering.store import outbox
from ordering.store.db import session
from ordering.usecases.clock import utc_now

BATCH = 500
IDLE_WAIT_S = 0.2  # at steady load an event waits at most this long for its round
BROKER_DOWN_WAIT_S = (0.5, 5.0)  # from, doubling, to
BACKLOG_EVERY_S = 10.0


@dataclass
class Round:
    claimed: int = 0
    published: int = 0
    delays_ms: list[float] = field(default_factory=list)


def payload(event: outbox.PendingEvent, currency: str) -> OrderEvent:
    """The event as published: the outbox row, and for a checkout the order's items and owner."""
    common: dict[str, Any] = {
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "order_id": event.order_id,
        "state": event.state,
        "total_amount": event.total_amount,
        "version": event.version,
    }
    if event.event_type == "order-checked-out":
        owner = (event.owner_key or "guest:").partition(":")[0]
        common.update(
            items=event.items or [],
            currency=currency,
            owner=owner,
            user_id=event.user_id if owner == "user" else None,
        )
    elif event.event_type == "order-cancelled":
        common["reason"] = event.reason
    return MODELS[event.event_type].model_validate(common)


def relay_round(producer: Any, topic: Callable[[str], str], until: float | None = None) -> Round:
    """One round; the wait for the broker's acknowledgements ends by `until` (monotonic), so a
    round never outlasts its invocation: what is not acknowledged by then waits for the next."""
    config = settings()
    done = Round()
    with session() as connection:
        claimed = outbox.claim(connection, BATCH)
        done.claimed = len(claimed)
        acknowledged: list[int] = []

        def delivered(row_id: int, error: Any, _message: Any) -> None:
            if error is None:
                acknowledged.append(row_id)
            else:
                logger.warning("event not acknowledged; published in a later round", error=str(error))

        try:
            for event in claimed:
                producer.produce(
                    topic(event.event_type),
                    key=str(event.order_id),
                    value=serialised(payload(event, config.currency)),
                    on_delivery=functools.partial(delivered, event.row_id),
                )
            wait = outbox_wait_s() if until is None else max(0.1, min(outbox_wait_s(), until - time.monotonic()))
            if claimed and producer.flush(wait) > 0:
                _forget(producer)
        except BaseException:
            _forget(producer)
            connection.rollback()
            raise
        now = utc_now()
        outbox.mark_published(connection, acknowledged, now)
    published = set(acknowledged)
    done.published = len(published)
    done.delays_ms = [
        (now - event.occurred_at).total_seconds() * 1000 for event in claimed if event.row_id in published
    ]
    return done


def _forget(producer: Any) -> None:
    """Drop what the producer holds unacknowledged, so that none of it is delivered after its
    row is free for another round (or another relay)."""
    producer.purge()
    producer.poll(0)


def outbox_wait_s() -> float:
    """How long a round waits for the broker: its delivery timeout, and a second more."""
    return producers.DELIVERY_TIMEOUT_MS / 1000 + 1.0


def relay(until: float, producer: Any | None = None) -> dict[str, int]:
    """Rounds until the monotonic time `until`; how many events were claimed and published."""
    if producer is None:
        producer = producers.producer()
    from confluent_kafka import KafkaException  # noqa: PLC0415 - the relay function's own dependency, not the layer's

    config = settings()
    totals = {"claimed": 0, "published": 0}
    pause = BROKER_DOWN_WAIT_S[0]
    next_backlog = time.monotonic()
    while time.monotonic() < until:
        try:
            done = relay_round(producer, config.topic, until)
        except ServiceUnavailable:
            logger.warning("the database does not answer; the relay waits")
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause = min(pause * 2, BROKER_DOWN_WAIT_S[1])
            continue
        except KafkaException as exc:  # a fatal producer error (its idempotence state lost)
            logger.warning("the producer failed; a new one takes over", error=str(exc))
            producer = _new_producer()
            continue
        totals["claimed"] += done.claimed
        totals["published"] += done.published
        if done.published:
            metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=done.published)
            metrics.add_metric(name="PublishDelay", unit=MetricUnit.Milliseconds, value=max(done.delays_ms))
        if time.monotonic() >= next_backlog:
            _report_backlog()
            next_backlog = time.monotonic() + BACKLOG_EVERY_S
        if done.claimed and not done.published:  # the broker does not answer
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause = min(pause * 2, BROKER_DOWN_WAIT_S[1])
            continue
        pause = BROKER_DOWN_WAIT_S[0]
        if done.claimed < BATCH:
            time.sleep(min(IDLE_WAIT_S, max(0.0, until - time.monotonic())))
    return totals


def _new_producer() -> Any:
    producers.discard()
    return producers.producer()


def _report_backlog() -> None:
    with session() as connection:
        depth, oldest = outbox.backlog(connection)
    metrics.add_metric(name="OutboxDepth", unit=MetricUnit.Count, value=depth)
    age_s = (utc_now() - oldest).total_seconds() if oldest is not None else 0.0
    metrics.add_metric(name="OldestUnpublishedAge", unit=MetricUnit.Seconds, value=max(age_s, 0.0))
    metrics.flush_metrics()  # a run lasts a minute: its figures are not held back until its end

"""Through the broker: a reservation produced → its row visible in PostgreSQL, one at a time
(latency), and a burst of 10,000 (events/s), with the template's event source mapping emulated
in this process (ordering_local.mapping) invoking the consumer function in this process too."""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from confluent_kafka import Producer

from ordering.config import settings
from ordering_local.invoke import invoke
from ordering_local.kafka import committed_offsets, ensure_topics
from ordering_local.mapping import Poller
from ordering_local.template import load
from tests.support import ROOT, published_topic_environment, reservation_created

LATENCY_SAMPLES = 40
BURST = 10_000


@contextmanager
def _mapping(bootstrap: str, state: Any, batching_window_s: float | None = None) -> Iterator[Poller]:
    """The reservation-created mapping of the template, on a topic of this run's own."""
    topic = f"bench-{uuid.uuid4().hex[:8]}-reservation-created"
    ensure_topics(bootstrap, [topic])
    os.environ["RESERVATION_CREATED_TOPIC"] = topic
    settings.cache_clear()
    function = next(function for function in load(ROOT) if function.name == "ReservationEventsFunction")
    mapping = dataclasses.replace(function.mappings[0], topics=[topic], consumer_group=f"{topic}-group")
    if batching_window_s is not None:
        mapping = dataclasses.replace(mapping, batching_window_s=batching_window_s)
    poller = Poller(mapping, function, bootstrap, invoke, state)
    poller.start()
    assert poller.ready.wait(30), "the mapping did not reach the broker"
    try:
        yield poller
    finally:
        poller.stop.set()
        os.environ.pop("RESERVATION_CREATED_TOPIC", None)
        settings.cache_clear()


def _visible(connection: psycopg.Connection[Any], reservation_id: str) -> bool:
    return (
        connection.execute("SELECT 1 FROM bc_ordering.reservations WHERE id = %s", (reservation_id,)).fetchone()
        is not None
    )


def latency(database_url: str, bootstrap: str, state: Any, batching_window_s: float | None) -> dict[str, float]:
    """Produce one reservation, wait for its row; p50/p99 over LATENCY_SAMPLES."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    samples: list[float] = []
    with _mapping(bootstrap, state, batching_window_s) as poller, psycopg.connect(database_url, autocommit=True) as db:
        topic = poller.mapping.topics[0]
        for index in range(LATENCY_SAMPLES + 1):
            reservation = reservation_created()
            started = time.perf_counter()
            producer.produce(topic, value=_json(reservation), key=reservation["seatId"].replace("-", ""))
            producer.flush(10)
            while not _visible(db, reservation["reservationId"]):
                time.sleep(0.001)
            if index:  # the first warms the function
                samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "batching_window_s": poller.mapping.batching_window_s,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


def burst(bootstrap: str, state: Any) -> dict[str, float]:
    """BURST reservations produced at once: from the first produce to all committed."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    reservations = [reservation_created() for _ in range(BURST)]
    with _mapping(bootstrap, state) as poller:
        topic = poller.mapping.topics[0]
        started = time.perf_counter()
        for reservation in reservations:
            while True:
                try:
                    producer.produce(topic, value=_json(reservation), key=reservation["seatId"].replace("-", ""))
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(30)
        produced_s = time.perf_counter() - started
        partitions = [(topic, number) for number in range(3)]
        while (
            sum(
                max(0, offset)
                for offset in committed_offsets(bootstrap, poller.mapping.consumer_group, partitions).values()
            )
            < BURST
        ):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    return {"records": BURST, "seconds": elapsed, "produce_seconds": produced_s, "events_per_s": BURST / elapsed}


def _json(payload: dict[str, Any]) -> bytes:
    import json

    return json.dumps(payload, default=str).encode()


def run(database_url: str, bootstrap: str, state: Any) -> dict[str, Any]:
    return {
        "latency_template_window": latency(database_url, bootstrap, state, None),
        "latency_no_window": latency(database_url, bootstrap, state, 0.0),
        "burst": burst(bootstrap, state),
        "relay": relay_figures(database_url, bootstrap),
    }


RELAY_BURST = 10_000
DELAY_SAMPLES = 100


def _insert_events(database_url: str, count: int) -> None:
    """`count` order-paid events of as many orders, straight into the outbox (setup, not measured)."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, occurred_at)"
            " SELECT gen_random_uuid(), 1, 'order-paid', 'paid', 50.00, %s FROM generate_series(1, %s)",
            (now, count),
        )


def relay_figures(database_url: str, bootstrap: str) -> dict[str, float]:
    """The outbox relay against the broker: a backlog of RELAY_BURST events drained (events/s),
    then the delay from an event's commit to its acknowledgement, one event every 50 ms."""
    import threading

    from ordering.published.producer import configuration
    from ordering.usecases.relay_outbox import relay, relay_round

    topics = published_topic_environment(f"bench-{uuid.uuid4().hex[:8]}-")
    ensure_topics(bootstrap, list(topics.values()))
    os.environ.update(topics, KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_AUTH="none")
    settings.cache_clear()
    try:
        producer = Producer(configuration())
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("TRUNCATE bc_ordering.outbox")
        # a relay's producer lives as long as its execution environment: its first round (the
        # connection, and the idempotent producer's id, which librdkafka asks for 0.5 s after
        # its start when no broker was connected yet) is apart from the drain
        _insert_events(database_url, 1)
        started = time.perf_counter()
        relay_round(producer, settings().topic)
        first_round_s = time.perf_counter() - started
        _insert_events(database_url, RELAY_BURST)
        started = time.perf_counter()
        while relay_round(producer, settings().topic).claimed:
            pass
        drained_s = time.perf_counter() - started

        stop = time.monotonic() + DELAY_SAMPLES * 0.05 + 2.0
        running = threading.Thread(target=relay, args=(stop, producer))
        running.start()
        for _ in range(DELAY_SAMPLES):
            _insert_events(database_url, 1)
            time.sleep(0.05)
        running.join()
        with psycopg.connect(database_url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT extract(epoch FROM published_at - occurred_at) * 1000 FROM bc_ordering.outbox"
                " ORDER BY id DESC LIMIT %s",
                (DELAY_SAMPLES,),
            ).fetchall()
        delays = sorted(float(row[0]) for row in rows if row[0] is not None)
        return {
            "events": RELAY_BURST,
            "events_per_s": RELAY_BURST / drained_s,
            "first_round_ms": first_round_s * 1000,
            "delay_p50_ms": statistics.median(delays),
            "delay_p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
            "delay_samples": len(delays),
        }
    finally:
        for name in (*topics, "KAFKA_AUTH"):
            os.environ.pop(name, None)
        settings.cache_clear()

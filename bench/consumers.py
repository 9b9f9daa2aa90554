"""Consumer throughput: one MSK batch of 1,000 records through a consumer function's handler."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg

from ordering.domain.identity import secret_hash
from ordering_local.events import Message, message_key, msk_event
from ordering_local.invoke import invoke
from ordering_local.template import load
from tests.support import ROOT, payment_succeeded, reservation_created, utc_now

BATCH = 1_000


def _consumer(topic: str) -> Any:
    return next(function for function in load(ROOT) if topic in function.topics)


def _pending_orders(database_url: str, count: int) -> list[dict[str, Any]]:
    """`count` pending orders of one seat each, written straight to the tables (setup, not measured)."""
    now = utc_now()
    orders = []
    rows_r, rows_o, rows_i = [], [], []
    for _ in range(count):
        reservation_id, seat_id, order_id, item_id = (uuid.uuid4() for _ in range(4))
        user = f"bench-{uuid.uuid4().hex[:12]}"
        rows_r.append((reservation_id, seat_id, secret_hash(user), "A-1", "A", Decimal(0), "active", now, now))
        rows_o.append((order_id, user, "pending", Decimal("50.00"), 1, now, now))
        rows_i.append((item_id, order_id, True, seat_id, Decimal("50.00"), reservation_id, now))
        orders.append({"id": str(order_id), "userId": user, "totalAmount": Decimal("50.00"), "items": []})
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO bc_ordering.reservations (id, seat_id, customer_hash, seat_number, section, base_price,"
            " status, created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows_r,
        )
        cursor.executemany(
            "INSERT INTO bc_ordering.orders (id, user_id, state, total_amount, item_count, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows_o,
        )
        cursor.executemany(
            "INSERT INTO bc_ordering.order_items (id, order_id, order_live, seat_id, price, reservation_id,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows_i,
        )
    return orders


def _timed(topic: str, payloads: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    event = msk_event(
        Message(topic, payload, key=message_key(topic, payload), offset=offset)
        for offset, payload in enumerate(payloads)
    )
    function = _consumer(topic)
    started = time.perf_counter()
    response = invoke(function, event)
    return time.perf_counter() - started, response


def _batches(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """A batch of reservation-created and one of payment-succeeded for fresh pending orders,
    after one record of each warmed the functions."""
    _timed("reservation-created", [reservation_created()])
    orders = _pending_orders(database_url, BATCH + 1)
    _timed("payment-succeeded", [payment_succeeded(orders.pop())])
    return {
        "reservation-created": [reservation_created() for _ in range(BATCH)],
        "payment-succeeded": [payment_succeeded(order) for order in orders[:BATCH]],
    }


def run(database_url: str, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Events per second of a batch of 1,000, the median of `repeats` fresh batches per topic."""
    seconds: dict[str, list[float]] = {}
    for _ in range(repeats):
        for topic, payloads in _batches(database_url).items():
            elapsed, response = _timed(topic, payloads)
            assert response == {"batchItemFailures": []}, response
            seconds.setdefault(topic, []).append(elapsed)
    return {
        topic: {"records": BATCH, "seconds": statistics.median(s), "events_per_s": BATCH / statistics.median(s)}
        for topic, s in seconds.items()
    }


def run_counted(database_url: str, counters: Callable[[], dict[str, int]]) -> dict[str, dict[str, float]]:
    """Round trips to each store for one batch of 1,000 of each topic."""
    results: dict[str, dict[str, float]] = {}
    for topic, payloads in _batches(database_url).items():
        before = counters()
        _, response = _timed(topic, payloads)
        assert response == {"batchItemFailures": []}, response
        after = counters()
        results[topic] = {f"{store}_round_trips": float(after[store] - before[store]) for store in after}
    return results

"""Nothing grows forever: the pruning function deletes what is past its retention, and nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg

from ordering_local.invoke import invoke
from tests.support import Service, reservation_created, stored_state

OLD = dt.timedelta(days=60)


def _age(database_url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(statement, params)


def _count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(f"SELECT count(*) FROM bc_ordering.{table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def test_pruning_deletes_what_is_due_and_nothing_else(service: Service, database_url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    # Given an abandoned cart, a fresh cart, an old pending order, and an abandoned cart with a conflict
    abandoned = service.cart()
    fresh = service.cart(guest="guest-fresh-1")
    pending = service.cart(guest="guest-pending-1")
    assert service.checkout(pending["id"], who=None, guest="guest-pending-1").status == 200
    disputed = service.cart(guest="guest-disputed-1")
    for order in (abandoned, pending, disputed):
        _age(database_url, "UPDATE bc_ordering.orders SET updated_at = %s WHERE id = %s", now - OLD, order["id"])
    _age(
        database_url,
        "INSERT INTO bc_ordering.order_conflicts (order_id, kind, topic, event_id, resolution)"
        " VALUES (%s, 'payment_for_draft_order', 'payment-succeeded', 'p-1', 'review')",
        disputed["id"],
    )
    # and a long-expired reservation no order holds, and ledger rows and dead letters old and new
    service.publish("reservation-created", reservation_created(), reservation_created())
    stale, kept = uuid.uuid4(), uuid.uuid4()
    _age(database_url, "UPDATE bc_ordering.reservations SET expires_at = %s WHERE id IN ("
         " SELECT id FROM bc_ordering.reservations WHERE id NOT IN (SELECT reservation_id FROM bc_ordering.order_items"
         " WHERE reservation_id IS NOT NULL) LIMIT 1)", now - OLD)  # fmt: skip
    _age(database_url, "UPDATE bc_ordering.reservations SET expires_at = %s WHERE id = %s",
         now - OLD, pending["items"][0]["reservationId"])  # fmt: skip
    _age(database_url, "UPDATE bc_ordering.consumed_events SET consumed_at = %s WHERE event_id IN ("
         " SELECT event_id FROM bc_ordering.consumed_events LIMIT 1)", now - OLD)  # fmt: skip
    for letter, when in ((stale, now - OLD), (kept, now)):
        _age(database_url, "INSERT INTO bc_ordering.dead_letters (topic, kafka_partition, kafka_offset, reason,"
             " recorded_at) VALUES ('t', 0, %s, %s, %s)", hash(letter) % 10**9, str(letter), when)  # fmt: skip
    # and an idempotency record past its expiry, and one still kept
    for key, expiry in (("expired", now - OLD), ("kept", now + dt.timedelta(hours=1))):
        _age(database_url, "INSERT INTO bc_ordering.idempotency_records (id, status, expiry_timestamp)"
             " VALUES (%s, 'COMPLETED', %s)", key, int(expiry.timestamp()))  # fmt: skip
    # and order events: one published long ago, and the old pending order's checkout, as old but
    # never published (it waits for the relay, however long)
    _age(database_url, "UPDATE bc_ordering.outbox SET occurred_at = %s WHERE order_id = %s", now - OLD, pending["id"])
    _age(database_url, "INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount,"
         " occurred_at, published_at) VALUES (%s, 1, 'order-paid', 'paid', 1, %s, %s)",
         uuid.uuid4(), now - OLD, now - OLD)  # fmt: skip
    before = {
        table: _count(database_url, table) for table in ("reservations", "consumed_events", "dead_letters", "outbox")
    }

    # When the pruning function runs
    function = next(f for f in service.functions if f.name == "PruneFunction")
    deleted = invoke(function, {"source": "aws.scheduler"})

    # Then exactly what was due is gone: the abandoned cart with its item, one reservation, one
    # ledger row, one dead letter
    assert deleted == {
        "consumed_events": 1, "reservations": 1, "dead_letters": 1, "idempotency_records": 1, "abandoned_drafts": 1,
        "outbox": 1,
    }  # fmt: skip
    orders = {row[0] for row in stored_state(database_url)["orders"]}
    assert orders == {uuid.UUID(o["id"]) for o in (fresh, pending, disputed)}
    after = {
        table: _count(database_url, table) for table in ("reservations", "consumed_events", "dead_letters", "outbox")
    }
    assert after == {table: count - 1 for table, count in before.items()}
    assert _count(database_url, "idempotency_records") == 1
    # and a second run finds nothing more
    assert set(invoke(function, {"source": "aws.scheduler"}).values()) == {0}

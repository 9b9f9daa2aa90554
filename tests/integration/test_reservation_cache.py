"""Redis caches reservations; when it is down, the service carries on from PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from ordering.config import settings
from ordering_local.embedded import free_port, start_redis, wait_for_redis
from tests.support import Service, reservation_created, reservation_expired


def test_a_consumed_reservation_is_cached_until_it_expires(
    service: Service, cache_client: redis.Redis, stores: dict[str, str]
) -> None:
    # Given a reservation that expires in 15 minutes
    reservation = reservation_created()
    # When it is consumed
    service.publish("reservation-created", reservation)
    # Then Redis holds it under its seat, for no longer than it lives
    key = f"{stores['REDIS_KEY_PREFIX']}seat-reservation:{reservation['seatId']}"
    cached = json.loads(cache_client.get(key) or "{}")
    assert cached["id"] == reservation["reservationId"]
    assert 14 * 60_000 < cache_client.pttl(key) <= 15 * 60_000
    # and the customer id is cached only as its hash
    assert "user-123" not in json.dumps(cached)


def test_the_cache_reconnects_when_redis_drops_its_connection(
    service: Service, cache_client: redis.Redis, stores: dict[str, str]
) -> None:
    # Given a service whose cache connection is open
    first, second = reservation_created(), reservation_created()
    service.publish("reservation-created", first)

    # When Redis drops every client connection (a restart or failover looks the same)
    cache_client.client_kill_filter(_type="normal", skipme=True)

    # Then the next reservation consumed is cached all the same, on a new connection
    service.publish("reservation-created", second)
    key = f"{stores['REDIS_KEY_PREFIX']}seat-reservation:{second['seatId']}"
    assert json.loads(cache_client.get(key) or "{}").get("id") == second["reservationId"]


def test_a_new_cache_connection_spends_no_round_trip_on_handshakes(service: Service, cache_client: redis.Redis) -> None:
    # Given an execution environment about to connect to Redis for the first time
    settings.cache_clear()
    cache_client.config_resetstat()
    # When it consumes a reservation
    service.publish("reservation-created", reservation_created())
    # Then Redis saw the SET that caches it, and before it only the SELECT of its database
    seen = {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in cache_client.info("commandstats").items()}
    assert {name: calls for name, calls in seen.items() if name not in ("config", "info")} == {"select": 1, "set": 1}


@pytest.fixture
def own_redis(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of this test's own, that it may stop: the service is pointed at it."""
    port = free_port()
    process = start_redis(tmp_path, port)
    wait_for_redis(port)
    with _service_on(port, process, monkeypatch):
        yield process


@contextmanager
def _service_on(port: int, process: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The service pointed at the Redis on this port; afterwards that Redis stops."""
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    settings.cache_clear()
    try:
        yield
    finally:
        process.kill()
        process.wait()
        monkeypatch.undo()
        settings.cache_clear()


def test_add_to_cart_works_from_postgresql_when_redis_stops(
    service: Service, own_redis: subprocess.Popen[bytes]
) -> None:
    # Given a reservation consumed while Redis was up, and a cart started with it
    first, second, third = (reservation_created() for _ in range(3))
    service.publish("reservation-created", first, second)
    assert service.add_to_cart(first).status == 200

    # When Redis stops
    own_redis.kill()
    own_redis.wait()

    # Then adding a seat still works, reading the reservation from PostgreSQL
    reply = service.add_to_cart(second)
    assert reply.status == 200, reply.body
    assert len(reply.body["items"]) == 2

    # and a reservation consumed during the outage is stored and can be added too
    assert service.publish("reservation-created", third) == {"batchItemFailures": []}
    reply = service.add_to_cart(third)
    assert reply.status == 200, reply.body
    assert len(reply.body["items"]) == 3


def test_without_redis_configured_the_service_runs_on_postgresql(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a service with no REDIS_URL at all
    monkeypatch.delenv("REDIS_URL")
    settings.cache_clear()
    reservation = reservation_created()

    # When a reservation is consumed and its seat added to a cart
    consumed = service.publish("reservation-created", reservation)
    reply = service.add_to_cart(reservation)

    # Then both work, from PostgreSQL alone
    assert consumed == {"batchItemFailures": []}
    assert reply.status == 200, reply.body
    assert [item["seatId"] for item in reply.body["items"]] == [reservation["seatId"]]
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def cluster_redis(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A Redis in cluster mode, one node serving every slot: what ElastiCache Serverless is to a
    client, where a command's keys must all hash to one slot. The service is pointed at it."""
    port = free_port()
    while port > 55535:  # the cluster bus listens 10000 above the port, and below 65536
        port = free_port()
    options = ("--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"))
    process = start_redis(tmp_path, port, *options)
    wait_for_redis(port)
    admin = redis.Redis(port=port, decode_responses=True)
    admin.cluster("ADDSLOTS", *range(16384))
    while admin.cluster("INFO")["cluster_state"] != "ok":
        time.sleep(0.05)
    with _service_on(port, process, monkeypatch):
        yield admin
    admin.close()


def test_on_a_cluster_mode_redis_expired_reservations_leave_the_cache(
    service: Service, cluster_redis: redis.Redis, stores: dict[str, str]
) -> None:
    # Given two reservations consumed and cached by a Redis in cluster mode
    first, second = reservation_created(), reservation_created()
    service.publish("reservation-created", first, second)
    keys = [f"{stores['REDIS_KEY_PREFIX']}seat-reservation:{r['seatId']}" for r in (first, second)]
    assert [cluster_redis.exists(key) for key in keys] == [1, 1]

    # When both expire, in one batch
    service.publish("reservation-expired", reservation_expired(first), reservation_expired(second))

    # Then neither is cached any more (their keys are in different slots)
    assert [cluster_redis.exists(key) for key in keys] == [0, 0]

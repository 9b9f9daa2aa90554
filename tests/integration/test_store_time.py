"""The capacity benchmark's hooks (bench/store_time.py): they see every wait on PostgreSQL and
every Redis command of the service, whatever its connection class, and leave nothing behind.
Counts only, never a time."""

from __future__ import annotations

import psycopg
import redis
import redis.client

from bench.store_time import measured
from tests.support import Service, bearer, reservation_created


def test_the_hooks_count_the_service_own_statements_and_commands(
    service: Service, database_url: str, cache_client: redis.Redis
) -> None:
    # Given a seat reserved (and cached) for a customer, and a warm execution environment
    reservation = reservation_created(customer="user-hooked")
    service.publish("reservation-created", reservation)
    assert service.get("/cart", bearer("user-warm")).status == 404

    # When the customer adds it to a cart with the hooks installed
    with measured() as spent:
        assert service.add_to_cart(reservation, who="user-hooked").status == 200
        during = (spent.postgres_calls, spent.redis_calls)

    # Then its statement and its cache read were seen, through the service's own connection classes
    postgres_calls, redis_calls = during
    assert postgres_calls >= 1
    assert redis_calls == 1


def test_the_hooks_are_gone_after_the_block(database_url: str, cache_client: redis.Redis) -> None:
    originals = (psycopg.Connection.wait, redis.Redis.execute_command, redis.client.Pipeline.execute)
    # its connection made first: redis-py's RESP3 handshake on connect is a command of its own
    cache_client.ping()
    with measured() as spent:
        with psycopg.connect(database_url) as connection:
            connection.execute("SELECT 1")
        cache_client.get("store-time-probe")
        pipeline = cache_client.pipeline(transaction=False)
        pipeline.get("store-time-probe")
        pipeline.execute()
        assert spent.postgres_calls >= 1
        assert spent.redis_calls == 2
    assert (psycopg.Connection.wait, redis.Redis.execute_command, redis.client.Pipeline.execute) == originals

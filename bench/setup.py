"""Where the benchmark runs: PostgreSQL and Redis from the URLs or embedded, a database of its own."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ordering.config import settings
from ordering_local import embedded
from ordering_local.events import Message, message_key, msk_event
from ordering_local.invoke import invoke
from ordering_local.runner import migrate_database
from ordering_local.template import load
from tests.support import JWT_SECRET, REDACTION_SECRET, ROOT, reservation_created

BENCH_DATABASE = "ordering_bench"


@dataclass(frozen=True)
class Stores:
    database_url: str
    redis_url: str

    def postgres_upstream(self) -> tuple[str, int] | str:
        """Where PostgreSQL listens: (host, port), or the path of its unix socket."""
        info = conninfo_to_dict(self.database_url)
        host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
        return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)

    def redis_upstream(self) -> tuple[str, int]:
        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    def through(self, postgres_port: int, redis_port: int) -> Stores:
        """The same stores, reached through proxies on these loopback ports."""
        database_url = make_conninfo(self.database_url, host="127.0.0.1", port=str(postgres_port))
        parts = urlsplit(self.redis_url)
        redis_url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{redis_port}"))
        return Stores(database_url, redis_url)


def prepare() -> Stores:
    given_database, given_redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    found = embedded.services(ROOT)
    database_url = given_database or database_of_its_own(found.database_url, BENCH_DATABASE)
    stores = Stores(database_url, given_redis or found.redis_url.removesuffix("/0") + "/2")
    if given_database:
        migrate_database(database_url)
        emptied(database_url)
    os.environ.update(
        JWT_SECRET=JWT_SECRET,
        REDACTION_SECRET=REDACTION_SECRET,
        REDIS_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="ordering",
    )
    use(stores)
    return stores


def database_of_its_own(server_url: str, name: str) -> str:
    """A database `name` on the server of `server_url` (created if missing), migrated and emptied:
    the figures of a run start from nothing, and leave the tests' and `make run`'s data alone."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f"CREATE DATABASE {name}")
    database_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    migrate_database(database_url)
    emptied(database_url)
    return database_url


def emptied(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE bc_ordering.order_conflicts, bc_ordering.order_items, bc_ordering.orders,"
            " bc_ordering.reservations, bc_ordering.consumed_events, bc_ordering.dead_letters,"
            " bc_ordering.known_users, bc_ordering.seat_prices, bc_ordering.catalog_events,"
            " bc_ordering.outbox, bc_ordering.idempotency_records"
        )
        # a refresh of the Catalog's prices due at once, as on a new stack
        connection.execute("UPDATE bc_ordering.catalog_refreshes SET refreshed_at = NULL, leased_until = NULL")


def run_stamp() -> dict[str, str]:
    """The machine and the time of a run, as every bench report heads its figures."""
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def round_trip_floors(stores: Stores, samples: int = 2000) -> dict[str, float]:
    """The p50 of a PostgreSQL `SELECT 1` and of a Redis GET on these stores: the floor a
    request's round trips stand on, measured in the same run as the figures set against it."""
    with psycopg.connect(stores.database_url, autocommit=True) as connection:
        postgres = []
        for _ in range(samples):
            started = time.perf_counter()
            connection.execute("SELECT 1").fetchone()
            postgres.append((time.perf_counter() - started) * 1000)
    client = redis.Redis.from_url(stores.redis_url)
    client.get("warm")
    cache = []
    for _ in range(samples):
        started = time.perf_counter()
        client.get("bench-floor")
        cache.append((time.perf_counter() - started) * 1000)
    client.close()
    return {"postgres_select_1_p50_ms": statistics.median(postgres), "redis_get_p50_ms": statistics.median(cache)}


def use(stores: Stores) -> None:
    """Point the functions of this process at these stores (they reconnect on next use)."""
    os.environ["DATABASE_URL"] = stores.database_url
    os.environ["REDIS_URL"] = stores.redis_url
    settings.cache_clear()


def keep_seat_prices(seat_ids: list[str], price: str) -> None:
    """The copy of the Catalog's prices, knowing these seats (what the scheduled refresh writes)."""
    from decimal import Decimal

    from ordering.domain.pricing import SeatPrice
    from ordering.store import seat_prices
    from ordering.usecases.clock import utc_now

    event_id = uuid.uuid4()
    seats = [SeatPrice(uuid.UUID(seat), event_id, "A", Decimal(price)) for seat in seat_ids]
    with psycopg.connect(settings().database_url or "", autocommit=True) as connection:
        seat_prices.keep_seatmap(connection, event_id, "Bench", seats, utc_now())


@contextmanager
def verified_prices() -> Iterator[None]:
    """The functions of this process verifying prices against a Catalog at a port nobody listens on:
    a request that had to ask it would fail."""
    os.environ["CATALOG_URL"] = "http://127.0.0.1:9"
    settings.cache_clear()
    try:
        yield
    finally:
        del os.environ["CATALOG_URL"]
        settings.cache_clear()


def publish_reservations(customers: list[str]) -> list[dict[str, Any]]:
    """A live reservation for each customer, consumed through the reservation consumer in
    batches of 1,000 (setup for the API and load figures, not measured)."""
    consumer = next(f for f in load(ROOT) if "reservation-created" in f.topics)
    reservations = [reservation_created(customer=customer) for customer in customers]
    for start in range(0, len(reservations), 1000):
        invoke(
            consumer,
            msk_event(
                Message("reservation-created", r, key=message_key("reservation-created", r), offset=start + i)
                for i, r in enumerate(reservations[start : start + 1000])
            ),
        )
    return reservations

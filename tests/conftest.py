"""Real PostgreSQL and Redis for every test: DATABASE_URL/REDIS_URL when set, else the embedded
servers the local runner uses (a separate database, and a key prefix of this run's own)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from ordering.config import settings
from ordering.store import known_users
from ordering.store.db import drop_riders
from ordering_local import embedded
from ordering_local.embedded import free_port
from ordering_local.environments import Environments
from ordering_local.runner import migrate_database
from ordering_local.template import load
from tests.support import JWT_SECRET, REDACTION_SECRET, ROOT, Service

TEST_DATABASE = "ordering_test"


def _test_database_url(server_url: str) -> str:
    """On the embedded server, a database of the tests' own, so `make run`'s data is left alone."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DATABASE,)).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {TEST_DATABASE}")
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{TEST_DATABASE}"))


# The tests' own embedded servers and runner state, apart from `make run`'s (.local): a test that
# stops a broker stops its own, and no test fills or restarts a running service's stores. The
# runners the tests start inherit it.
TEST_STATE = ROOT / ".local" / "test"


@pytest.fixture(scope="session", autouse=True)
def stores() -> Iterator[dict[str, str]]:
    given_database, given_redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    os.environ[embedded.STATE_VARIABLE] = str(TEST_STATE)
    found = embedded.services(ROOT)
    database_url = given_database or _test_database_url(found.database_url)
    environment = {
        "DATABASE_URL": database_url,
        # on the embedded server, a Redis database of the tests' own (0 is `make run`'s, 2 the bench's)
        "REDIS_URL": given_redis or found.redis_url.removesuffix("/0") + "/1",
        "REDIS_KEY_PREFIX": f"ordering-test-{uuid.uuid4().hex[:8]}:",
        "KAFKA_BOOTSTRAP_SERVERS": found.kafka_bootstrap_servers,
        "JWT_SECRET": JWT_SECRET,
        "REDACTION_SECRET": REDACTION_SECRET,
        "SERVICE_ROLES": "fulfillment,service",
        "MAX_SEATS_PER_ORDER": "10",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderingTest",
        "POWERTOOLS_SERVICE_NAME": "ordering",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    for name in ("JWT_SECRET_ARN", "DATABASE_SECRET_ARN", "REDACTION_SECRET_ARN"):
        os.environ.pop(name, None)
    settings.cache_clear()
    migrate_database(database_url)
    yield environment
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    settings.cache_clear()


@pytest.fixture(autouse=True)
def clean_state(stores: dict[str, str]) -> None:
    """Each test starts with no orders, no reservations and nothing cached."""
    with psycopg.connect(stores["DATABASE_URL"], autocommit=True) as connection:
        connection.execute(
            "TRUNCATE bc_ordering.order_conflicts, bc_ordering.order_items, bc_ordering.orders,"
            " bc_ordering.reservations, bc_ordering.consumed_events, bc_ordering.dead_letters,"
            " bc_ordering.idempotency_records, bc_ordering.outbox, bc_ordering.known_users,"
            " bc_ordering.seat_prices, bc_ordering.catalog_events"
        )
        connection.execute("UPDATE bc_ordering.catalog_refreshes SET refreshed_at = NULL, leased_until = NULL")
    known_users.forget()
    drop_riders()
    client = redis.Redis.from_url(stores["REDIS_URL"])
    keys = list(client.scan_iter(match=f"{stores['REDIS_KEY_PREFIX']}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def service() -> Service:
    return Service()


@pytest.fixture(scope="session")
def concurrent_service(stores: dict[str, str]) -> Iterator[Service]:
    """The functions in twenty execution environments of their own (worker processes), for
    callers that must really run at the same time, as concurrent Lambda invocations do."""
    functions = load(ROOT)
    with Environments(functions, 20, dict(os.environ)) as environments:
        environments.start_all()
        yield Service(functions, environments.invoke)


@pytest.fixture
def database_url(stores: dict[str, str]) -> str:
    return stores["DATABASE_URL"]


@pytest.fixture
def cache_client(stores: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stores["REDIS_URL"], decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The service pointed at a port where no database listens."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "1")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the service's environment for one test (`configure(ANONYMOUS_USER_IDS="refuse")`)."""

    def setting(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings.cache_clear()

    yield setting
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def logs_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG: the service's own, and Powertools' internal ones, which
    POWERTOOLS_DEBUG turns on (they log each route's arguments); what they write is captured."""
    from ordering.observability import logger

    level = logger.log_level
    logger.setLevel("DEBUG")
    monkeypatch.setattr(logging.getLogger("aws_lambda_powertools"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    yield caplog
    logger.setLevel(level)

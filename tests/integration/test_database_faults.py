"""What RDS Proxy and Aurora do to connections on AWS, done to the real PostgreSQL here: a
reused connection closed under the service (IdleClientTimeout, a failover, an operator), and a
server that freezes instead of failing."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest

from ordering_local.invoke import invoke
from tests.support import Service, bearer


def _service_backends(database_url: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'ordering' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


@contextmanager
def _frozen(database_url: str) -> Iterator[None]:
    """The service's database backends stopped (SIGSTOP: the socket stays open, the kernel still
    acknowledges, nothing answers) while the block runs, then thawed."""
    backends = _service_backends(database_url)
    for pid in backends:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in backends:
            os.kill(pid, signal.SIGCONT)


def test_a_request_after_every_connection_was_closed_under_the_service_succeeds(
    service: Service, database_url: str
) -> None:
    # Given a warm function whose connection is open and idle
    order = service.cart()
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200
    backends = _service_backends(database_url)
    assert backends

    # When the server closes every connection of the service between two requests
    with psycopg.connect(database_url, autocommit=True) as connection:
        for pid in backends:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while set(backends) & set(_service_backends(database_url)) and time.monotonic() < deadline:
        time.sleep(0.05)

    # Then the next request, of any kind, is served on a fresh connection
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200
    assert service.checkout(order["id"]).status == 200


@pytest.mark.timeout(60)
def test_a_frozen_database_ends_in_a_503_before_the_functions_timeout(service: Service, database_url: str) -> None:
    # Given a warm function with a 3 s timeout, and its database backend then frozen (SIGSTOP:
    # the socket stays open, the kernel still acknowledges, nothing answers)
    order = service.cart()
    function = next(f for f in service.functions if f.name == "GetOrderFunction")
    short = dataclasses.replace(function, timeout_s=3.0)
    quick = Service(service.functions, lambda f, event: invoke(short if f.name == short.name else f, event))
    assert quick.get(f"/orders/{order['id']}", bearer()).status == 200
    with _frozen(database_url):
        # When the next request comes
        started = time.monotonic()
        reply = quick.get(f"/orders/{order['id']}", bearer())
        waited = time.monotonic() - started

    # Then it is told the service is unavailable, within the function's time (not after it)
    assert (reply.status, reply.error) == (503, "Service unavailable")
    assert waited < short.timeout_s, waited
    # and once the database thaws, the service answers again
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200


def test_an_api_request_gives_up_on_a_frozen_database_within_its_budget(
    service: Service, database_url: str, configure: Callable[..., None]
) -> None:
    # Given a warm function with the template's 10 s timeout and a request budget of 1 s, and its
    # database backend then frozen
    configure(API_REQUEST_BUDGET_S="1")
    order = service.cart()
    function = next(f for f in service.functions if f.name == "GetOrderFunction")
    assert function.timeout_s == 10.0
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200
    with _frozen(database_url):
        # When the next request comes
        started = time.monotonic()
        reply = service.get(f"/orders/{order['id']}", bearer())
        waited = time.monotonic() - started

    # Then it is a 503 within its budget (not the function's 9 s), telling the client when to retry
    assert (reply.status, reply.error, reply.headers.get("Retry-After")) == (503, "Service unavailable", "1")
    assert waited < 1.5, waited
    # and once the database thaws, the service answers again
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200

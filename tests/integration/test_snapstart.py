"""SnapStart as Lambda runs it for the API functions: the runtime calls the hooks registered with
snapshot_restore_py before it snapshots an environment, and after it restores one (here, called as
the runtime calls them, from the library's own registries)."""

from __future__ import annotations

from typing import Any

import psycopg
import snapshot_restore_py

from ordering.cache import reservations as cache
from ordering.published.producer import producer
from ordering.store import db
from tests.support import Service, bearer, reservation_created


def _run(registry: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> None:
    for hook, args, kwargs in registry:
        hook(*args, **kwargs)


def _connection() -> psycopg.Connection[Any] | None:
    connection: psycopg.Connection[Any] | None = getattr(db._local, "connection", None)
    return connection


def test_priming_before_the_snapshot_does_no_io(service: Service) -> None:
    # Given the API functions loaded (each registers its priming as it is imported), in an
    # environment with no connection yet
    for path in ("/cart", "/health"):
        service.get(path, {})
    db.discard_connection()
    cache.forget()
    # When the runtime runs the hooks before the snapshot
    _run(snapshot_restore_py.get_before_snapshot())
    # Then every function was primed, and the snapshot would hold no connection and no Redis client
    assert len(snapshot_restore_py.get_before_snapshot()) >= 2
    assert _connection() is None
    assert cache._current is None


def test_a_restored_environment_opens_its_own_connections_and_answers(service: Service) -> None:
    # Given a warm environment with a database connection and a Redis client (as snapshotted)
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert service.get("/cart", bearer()).status == 404
    before = _connection()
    assert before is not None
    backend, client = before.info.backend_pid, cache.reservation_cache()
    kafka = producer()

    # When the runtime restores it from the snapshot and runs the hooks after the restore
    _run(snapshot_restore_py.get_after_restore())

    # Then the next request opens connections of its own, and answers
    reply = service.add_to_cart(reservation)
    assert reply.status == 200, reply.body
    after = _connection()
    assert after is not None
    assert after is not before
    assert after.info.backend_pid != backend
    assert before.closed
    assert cache.reservation_cache() is not client
    assert producer() is not kafka

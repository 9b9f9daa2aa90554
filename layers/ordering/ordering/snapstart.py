"""Lambda SnapStart for the API functions: Lambda initialises a function once, when a version is
published, snapshots the environment, and starts every later environment from that snapshot.

What is primed before the snapshot, and so shared by every environment restored from it: the
imports, one request that ends before any I/O (a validation error, a missing identity), which
builds the resolver's routes, the pydantic validators and the answer's JSON path, and the models
of every answer (http/responses.py).

What is dropped after a restore, because it must not be shared: the database connection, the
Redis client, the Secrets Manager cache, the Catalog's connection pool, a Kafka producer (none
of them should exist after priming, which does no I/O, but a snapshot must never carry one),
and the random module's state (every restored environment would otherwise draw the same
numbers).

`snapshot_restore_py` is the runtime's (Lambda's Python 3.12+ runtimes ship it); where it is not
installed (sam local, an older runtime) nothing is registered, and a cold start is a cold start.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

from ordering.observability import logger
from ordering.secrets import forget_secrets
from ordering.store.db import discard_connection

_registered: set[str] = set()


def forget_what_must_not_be_shared() -> None:
    """After a restore: the connections, clients and caches of the environment that was snapshotted."""
    discard_connection()
    forget_secrets()
    random.seed()
    loaded = sys.modules
    cache = loaded.get("ordering.cache.reservations")
    if cache is not None:  # imported by the functions that read the cache only
        cache.forget()
    catalog = loaded.get("ordering.catalog")
    if catalog is not None:  # imported on a miss only
        catalog.forget()
    kafka = loaded.get("ordering.published.producer")
    if kafka is not None:  # no API function publishes (the outbox does), but a snapshot must never hold one
        kafka.discard()


def prepare(name: str, prime: Callable[[], Any]) -> None:
    """Register this function's priming (`prime`: a request that does no I/O) and the restore
    hook, once per environment."""
    if name in _registered:
        return
    try:
        # Lambda's runtime has it, and only where SnapStart is on
        from snapshot_restore_py import register_after_restore, register_before_snapshot  # noqa: PLC0415
    except ImportError:
        return
    _registered.add(name)

    def primed() -> None:
        try:
            prime()
        except Exception:  # priming is an optimisation: a failure must not stop the snapshot
            logger.exception("priming before the snapshot failed", function=name)

    register_before_snapshot(primed)
    if len(_registered) == 1:
        register_after_restore(forget_what_must_not_be_shared)

"""Time spent inside PostgreSQL and Redis calls, measured from outside the service.

Installed by the benchmark only, on the client libraries' classes (the service's code is not
touched): every wait of psycopg on the server goes through `psycopg.Connection.wait` (execute,
pipeline syncs, COMMIT; the service's own connection class calls it through `super()`), and
every Redis command through `redis.Redis.execute_command` or `Pipeline.execute`.

What the wall time inside them holds: the client library's own work on the statement (adapting
the parameters, parsing the answer) as well as the wait for the server and the network. The
process time spent inside them is kept apart, so that the wait alone is wall minus CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import psycopg
import redis
import redis.client


@dataclass
class StoreTime:
    """One invocation's time in the stores, in seconds, and how many calls made it."""

    postgres_s: float = 0.0
    postgres_cpu_s: float = 0.0
    postgres_calls: int = 0
    redis_s: float = 0.0
    redis_calls: int = 0

    def reset(self) -> None:
        for field in fields(self):
            setattr(self, field.name, type(getattr(self, field.name))())


# One invocation at a time in the benchmark's process, as in a Lambda execution environment.
current = StoreTime()


def _timed_postgres(original: Callable[..., Any]) -> Callable[..., Any]:
    def wait(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        started, started_cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            current.postgres_s += time.perf_counter() - started
            current.postgres_cpu_s += time.process_time() - started_cpu
            current.postgres_calls += 1

    return wait


def _timed_redis(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            current.redis_s += time.perf_counter() - started
            current.redis_calls += 1

    return call


@contextmanager
def measured() -> Iterator[StoreTime]:
    """The hooks installed for the block, counting from zero; `current` is what was spent since
    the block began or was last reset (once per invocation)."""
    current.reset()
    originals = (
        (psycopg.Connection, "wait", _timed_postgres),
        (redis.Redis, "execute_command", _timed_redis),
        (redis.client.Pipeline, "execute", _timed_redis),
    )
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in originals]
    for owner, name, wrap in originals:
        setattr(owner, name, wrap(owner.__dict__[name]))
    try:
        yield current
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)

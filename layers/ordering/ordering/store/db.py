"""The PostgreSQL connection: opened lazily on first use, reused across invocations.

One connection per thread: a Lambda execution environment runs one invocation at a time on
one thread, and the local runner serves each request on its own thread, like separate
execution environments. Autocommit, so a single statement is its own transaction and a use
case that needs more pipelines them inside one transaction (see repositories).
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import Row

from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger
from ordering.secrets import secret_json

_local = threading.local()
RV = TypeVar("RV")


class _Bounded(psycopg.Connection[Any]):
    """A connection whose every wait on the server ends by the invocation's deadline.

    A frozen database (a hung proxy, a failover under way) keeps the socket open and answers
    nothing: TCP keepalives and tcp_user_timeout see a healthy peer, and a statement_timeout is
    the server's to enforce. Without a bound of its own the request would wait past the
    function's timeout, which API Gateway answers with a 502 and no log line of ours."""

    deadline: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if self.deadline is not None:
            left = max(self.deadline - time.monotonic(), 0.0)
            timeout = left if timeout is None else min(timeout, left)
        return super().wait(gen, interval=interval, timeout=timeout)


class _RidingCursor(psycopg.Cursor[Row]):
    """A cursor whose statement carries the writes riding along with it (see `ride_along`), sent
    ahead of it in the same round trip: every statement of the service, whatever its cursor's
    row factory, is one they may ride with."""

    __slots__ = ()

    def execute(self, *args: Any, **kwargs: Any) -> Self:  # Cursor.execute's arguments, passed on
        riders: list[_Rider] = getattr(_local, "riders", [])
        if not riders:
            return super().execute(*args, **kwargs)
        _local.riders = []
        connection = self.connection
        if connection._pipeline is not None:
            # inside a pipeline already: they go with its next sync, whose outcome is not known
            # here, so they are not marked done (a later request sends them again, harmlessly)
            for rider in riders:
                connection.cursor().execute(rider.statement, rider.params)
            return super().execute(*args, **kwargs)
        try:
            with connection.pipeline():
                for rider in riders:
                    connection.cursor().execute(rider.statement, rider.params)
                super().execute(*args, **kwargs)
        except BaseException:
            # they shared the statement's transaction, and its fate: they ride with the next one
            _local.riders = riders + getattr(_local, "riders", [])
            raise
        if connection.info.transaction_status == TransactionStatus.IDLE:  # committed with the statement
            for rider in riders:
                rider.done()
        return self


@dataclass(frozen=True, slots=True)
class _Rider:
    statement: str
    params: tuple[Any, ...]
    done: Callable[[], None]


def ride_along(statement: str, params: tuple[Any, ...], done: Callable[[], None]) -> None:
    """Send an idempotent write with this thread's next statement, in the same round trip (a
    pipeline; they share that statement's transaction), rather than on a round trip of its own.
    `done` runs once it committed with a statement that succeeded. A write still waiting when
    the invocation ends is dropped: whoever asked will ask again."""
    riders: list[_Rider] = getattr(_local, "riders", [])
    _local.riders = [*riders, _Rider(statement, params, done)]


def drop_riders() -> None:
    _local.riders = []


class _RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# What an invocation keeps for itself past its deadline: time to answer 503 and flush its logs.
_MARGIN_S, _MARGIN_SHARE = 0.5, 0.1


@contextmanager
def invocation_deadline(context: _RemainingTime | None, *, budget_s: float | None = None) -> Iterator[None]:
    """Bound every database wait of this invocation by the time Lambda gives it, less a margin,
    and by `budget_s` when given (an API request's), so that an overloaded or frozen database
    ends in a 503 (or a batch item failure), never in the function's timeout."""
    remaining_s = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    if remaining_s is not None:
        remaining_s -= max(_MARGIN_S, remaining_s * _MARGIN_SHARE)
    if budget_s is not None:
        remaining_s = budget_s if remaining_s is None else min(remaining_s, budget_s)
    _local.deadline = time.monotonic() + remaining_s if remaining_s is not None else None
    try:
        yield
    finally:
        _local.deadline = None
        drop_riders()
        _close_forgotten_transaction()


def invocation_ends() -> float | None:
    """The monotonic time at which this invocation's database waits end (None: unbounded)."""
    deadline: float | None = getattr(_local, "deadline", None)
    return deadline


def _close_forgotten_transaction() -> None:
    """No invocation leaves a transaction open for the next one to run inside (a bug's safety net)."""
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        return
    if connection.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        logger.error("an invocation left a transaction open; rolled back")
        try:
            connection.rollback()
        except psycopg.Error:
            discard_connection()


def _seconds_left() -> float | None:
    deadline: float | None = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def _is_alive(connection: psycopg.Connection[Any]) -> bool:
    """Whether a reused idle connection still has its server. An idle connection has nothing to
    read; a readable socket means the server (RDS Proxy's IdleClientTimeout, a failover,
    pg_terminate_backend) has closed it, or had something to say that a fresh connection will
    not miss. One poll of the socket, no round trip."""
    if connection.closed or connection.broken:
        return False
    # poll, not select: select refuses descriptors past 1024, which would make every connection
    # look dead (and be replaced on every request) in a process holding many files
    poller = select.poll()
    try:
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _conninfo(*, refresh_secret: bool = False) -> str:
    config = settings()
    if config.database_url is not None:
        return config.database_url
    assert config.database_secret_arn is not None  # Settings.from_env guarantees it without a URL
    secret = secret_json(config.database_secret_arn, refresh=refresh_secret)
    tls = {"sslrootcert": config.database_sslrootcert} if config.database_sslrootcert else {}
    return make_conninfo(
        host=config.database_host,
        port=config.database_port,
        dbname=config.database_name,
        user=secret["username"],
        password=secret["password"],
        sslmode=config.database_sslmode,
        **tls,
    )


def _is_authentication_failure(exc: psycopg.OperationalError) -> bool:
    text = str(exc)
    return "authentication failed" in text or ('role "' in text and "does not exist" in text)


def _connect() -> psycopg.Connection[Any]:
    config = settings()

    def connect(conninfo: str) -> psycopg.Connection[Any]:
        if config.database_url is not None:
            # Through RDS Proxy (no DATABASE_URL) the proxy's InitQuery sets the timeout instead:
            # a session setting sent by the client would pin the connection to one backend.
            conninfo = make_conninfo(conninfo, options=f"-c statement_timeout={config.db_statement_timeout_ms}")
        left = _seconds_left()
        # libpq counts connect_timeout in whole seconds, 2 at the least
        connect_timeout = config.db_connect_timeout_s
        if left is not None:
            connect_timeout = max(2, min(connect_timeout, int(left)))
        return _Bounded.connect(
            conninfo,
            autocommit=True,
            connect_timeout=connect_timeout,
            # Unnamed statements only: RDS Proxy pins a session that prepares named statements.
            prepare_threshold=None,
            application_name="ordering",
            cursor_factory=_RidingCursor,
            # a peer that vanished (no FIN: a failover, a dropped route) is noticed within seconds
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            tcp_user_timeout=config.db_connect_timeout_s * 1000,
        )

    try:
        return connect(_conninfo())
    except psycopg.OperationalError as exc:
        # The secret was rotated since it was cached: read it again, once.
        if config.database_url is None and _is_authentication_failure(exc):
            return connect(_conninfo(refresh_secret=True))
        raise


def hold_transaction(held: bool) -> None:
    """While a transaction spans several statements of a request (an Idempotency-Key's), a lost
    connection must fail the request: reconnecting would run the rest outside the transaction."""
    _local.transaction_held = held


def rollback_if_open() -> None:
    """Roll back the thread's transaction, on the connection it has (never a new one: a lost
    connection's transaction is rolled back by the server already)."""
    _local.transaction_held = False
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        return
    try:
        if connection.info.transaction_status != TransactionStatus.IDLE:
            connection.rollback()
    except psycopg.Error:
        discard_connection()


def discard_connection() -> None:
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        connection.close()


@contextmanager
def session() -> Iterator[psycopg.Connection[Any]]:
    """The thread's connection (made anew when the settings changed); a lost or unreachable
    database becomes ServiceUnavailable."""
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    try:
        if getattr(_local, "settings", None) is not settings():
            discard_connection()
            connection = None
        if connection is not None and not _is_alive(connection):
            discard_connection()
            connection = None
        if connection is None and getattr(_local, "transaction_held", False):
            _local.transaction_held = False
            raise ServiceUnavailable("the database connection was lost inside a transaction")
        if connection is None:
            connection = _local.connection = _connect()
            _local.settings = settings()
        if isinstance(connection, _Bounded):
            connection.deadline = getattr(_local, "deadline", None)
        yield connection
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        discard_connection()
        _local.transaction_held = False
        if isinstance(exc, psycopg.errors._WaitTimeout):
            raise ServiceUnavailable("database did not answer before the invocation's deadline") from exc
        raise ServiceUnavailable("database unavailable") from exc


@contextmanager
def autocommit_session() -> Iterator[psycopg.Connection[Any]]:
    """A connection whose statements commit by themselves: the thread's, unless a transaction is
    open on it (an Idempotency-Key's), then one of the block's own, closed after it. For work
    that stands whatever the request's transaction becomes (the copy of the Catalog's prices
    refreshed on a miss), and that must not hold rows locked until the request ends."""
    current: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if current is None or current.closed or current.info.transaction_status == TransactionStatus.IDLE:
        with session() as connection:
            yield connection
        return
    try:
        own = _connect()
        if isinstance(own, _Bounded):
            own.deadline = getattr(_local, "deadline", None)
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise ServiceUnavailable("database unavailable") from exc
    try:
        yield own
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise ServiceUnavailable("database unavailable") from exc
    finally:
        own.close()

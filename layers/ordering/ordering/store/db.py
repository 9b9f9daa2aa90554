"""The PostgreSQL connection: opened lazily on first use, reused across invocations.

One connection per thread: a Lambda execution environment runs one invocation at a time on
one thread, and the local runner serves each request on its own thread, like separate
execution environments. Autocommit, so a single statement is its own transaction and a use
case that needs more pipelines them inside one transaction (see repositories).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable

_local = threading.local()


def _conninfo(*, refresh_secret: bool = False) -> str:
    config = settings()
    if config.database_url is not None:
        return config.database_url
    assert config.database_secret_arn is not None  # Settings.from_env guarantees it without a URL
    from ordering.secrets import secret_json

    secret = secret_json(config.database_secret_arn, refresh=refresh_secret)
    return make_conninfo(
        host=config.database_host,
        port=config.database_port,
        dbname=config.database_name,
        user=secret["username"],
        password=secret["password"],
        sslmode=config.database_sslmode,
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
        return psycopg.connect(
            conninfo,
            autocommit=True,
            connect_timeout=config.db_connect_timeout_s,
            # Unnamed statements only: RDS Proxy pins a session that prepares named statements.
            prepare_threshold=None,
            application_name="ordering",
        )

    try:
        return connect(_conninfo())
    except psycopg.OperationalError as exc:
        # The secret was rotated since it was cached: read it again, once.
        if config.database_url is None and _is_authentication_failure(exc):
            return connect(_conninfo(refresh_secret=True))
        raise


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
        if connection is None or connection.closed or connection.broken:
            connection = _local.connection = _connect()
            _local.settings = settings()
        yield connection
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        discard_connection()
        raise ServiceUnavailable("database unavailable") from exc

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
from urllib.parse import quote

import psycopg

from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable

_local = threading.local()


def _conninfo() -> str:
    config = settings()
    if config.database_url is not None:
        return config.database_url
    assert config.database_secret_arn is not None  # Settings.from_env guarantees one of the two
    from ordering.secrets import secret_json

    secret = secret_json(config.database_secret_arn)
    return (
        f"postgresql://{quote(secret['username'], safe='')}:{quote(secret['password'], safe='')}"
        f"@{secret['host']}:{secret.get('port', 5432)}/{secret.get('dbname', 'ordering')}"
    )


def _connect() -> psycopg.Connection[Any]:
    config = settings()
    return psycopg.connect(
        _conninfo(),
        autocommit=True,
        connect_timeout=config.db_connect_timeout_s,
        # Unnamed statements only: RDS Proxy pins a session that prepares named statements.
        prepare_threshold=None,
        options=f"-c statement_timeout={config.db_statement_timeout_ms}",
        application_name="ordering",
    )


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

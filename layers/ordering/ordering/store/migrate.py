"""Versioned SQL migrations of schema bc_ordering, applied in order, each at most once.

All pending migrations run in one transaction under an advisory lock: two deploys racing
apply them once, and a failing migration leaves the schema exactly as it was.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "bc_ordering"
_LOCK_KEY = 0x0D_E2_1E_60  # any constant shared by every migrator of this schema


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def available() -> list[Migration]:
    folder = resources.files("ordering.store") / "migrations"
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda entry: entry.name)
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in files]


def migrate(
    connection: psycopg.Connection[Any],
    migrations: list[Migration] | None = None,
    *,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int = 10_000,
    service_role: tuple[str, str] | None = None,
) -> list[str]:
    """Apply the pending migrations; returns the versions applied now. With `service_role`
    (user, password), also make sure the service's own login exists with that password and may
    read and write the schema's rows, and nothing more: no DDL, no other schema."""
    migrations = available() if migrations is None else migrations
    applied_now: list[str] = []
    with connection.transaction():
        if statement_timeout_ms is not None:
            # for this transaction only (a session SET would pin an RDS Proxy connection)
            connection.execute("SELECT set_config('statement_timeout', %s, true)", (str(statement_timeout_ms),))
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        # a migration that waits behind a long transaction for a table's lock would queue every
        # request of the live release behind it: give up instead (the deploy fails, and can be
        # retried). Set after the advisory lock, for which a racing deploy may wait its turn.
        connection.execute("SELECT set_config('lock_timeout', %s, true)", (str(lock_timeout_ms),))
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = connection.execute(f"SELECT version, checksum FROM {SCHEMA}.schema_migrations").fetchall()
        applied = dict(rows)
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(f"migration {migration.version} was changed after it was applied")
                continue
            connection.execute(migration.sql.encode())
            connection.execute(
                f"INSERT INTO {SCHEMA}.schema_migrations (version, checksum) VALUES (%s, %s)",
                (migration.version, migration.checksum),
            )
            applied_now.append(migration.version)
        if service_role is not None:
            _grant_service_role(connection, *service_role)
    return applied_now


def _grant_service_role(connection: psycopg.Connection[Any], user: str, password: str) -> None:
    role = sql.Identifier(user)
    exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    # DDL takes no bind parameters; the password is quoted as a literal by psycopg
    connection.execute(sql.SQL("{} ROLE {} WITH LOGIN PASSWORD {}").format(verb, role, sql.Literal(password)))
    schema = sql.Identifier(SCHEMA)
    for grant in (
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        # tables of later migrations, created by the migrating user
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ):
        connection.execute(sql.SQL(grant).format(schema=schema, role=role))

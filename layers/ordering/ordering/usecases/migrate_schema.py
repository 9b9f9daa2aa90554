"""Bring schema bc_ordering up to date (on every deploy, and locally)."""

from __future__ import annotations

from ordering.config import settings
from ordering.store.db import session
from ordering.store.migrate import migrate


def migrate_schema() -> list[str]:
    """Apply the pending migrations in one transaction, and keep the service's own database
    user (from its secret) able to use the schema; returns the versions applied now."""
    config = settings()
    service_role = None
    if config.service_database_secret_arn is not None:
        from ordering.secrets import secret_json

        secret = secret_json(config.service_database_secret_arn)
        service_role = (str(secret["username"]), str(secret["password"]))
    with session() as connection:
        return migrate(connection, statement_timeout_ms=config.db_statement_timeout_ms, service_role=service_role)

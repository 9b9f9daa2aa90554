"""Bring schema bc_ordering up to date (on every deploy, and locally)."""

from __future__ import annotations

from ordering.config import settings
from ordering.store.db import session
from ordering.store.migrate import migrate


def migrate_schema() -> list[str]:
    """Apply the pending migrations in one transaction; returns the versions applied now."""
    with session() as connection:
        return migrate(connection, statement_timeout_ms=settings().db_statement_timeout_ms)

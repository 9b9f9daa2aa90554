"""GET /health/ready: whether the stores this service needs answer (never where they are)."""

from __future__ import annotations

from ordering.cache.reservations import reservation_cache
from ordering.domain.errors import ServiceUnavailable
from ordering.store.db import session


def readiness() -> dict[str, str]:
    """`up` or `down` for PostgreSQL, and for Redis `up`, `down` or `not configured` (the service
    runs without it). Redis down does not make the service unready: it is a cache."""
    checks: dict[str, str] = {}
    try:
        with session() as connection:
            connection.execute("SELECT 1")
        checks["postgresql"] = "up"
    except ServiceUnavailable:
        checks["postgresql"] = "down"
    checks["redis"] = reservation_cache().ping()
    return checks

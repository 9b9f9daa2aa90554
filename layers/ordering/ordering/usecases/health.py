"""GET /health/ready: whether the stores this service needs answer (never where they are), and
whether the prices it takes are verified against the Catalog."""

from __future__ import annotations

from datetime import timedelta

from ordering.cache.reservations import reservation_cache
from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.store import seat_prices
from ordering.store.db import session
from ordering.usecases.clock import utc_now


def readiness() -> dict[str, str]:
    """`up` or `down` for PostgreSQL, and for Redis `up`, `down` or `not configured` (the service
    runs without it). Redis down does not make the service unready: it is a cache. `prices` says
    whether a client's price is checked against the Catalog's (`verified`) or stands as sent
    (`not verified`, no CATALOG_URL), and `catalog` how current the copy of its prices is:
    `refreshed`, `stale` (no complete refresh for CATALOG_STALE_AFTER_S), `never refreshed`. A
    stale copy still prices the seats it holds and asks the Catalog for the others."""
    config = settings()
    checks: dict[str, str] = {}
    refreshed_at = None
    try:
        with session() as connection:
            # the one round trip of the check, which the copy's state rides with
            refreshed_at = seat_prices.last_refresh(connection)
        checks["postgresql"] = "up"
    except ServiceUnavailable:
        checks["postgresql"] = "down"
    checks["redis"] = reservation_cache().ping()
    if not config.verifies_prices:
        checks["prices"], checks["catalog"] = "not verified", "not configured"
    else:
        checks["prices"] = "verified"
        if refreshed_at is None:
            checks["catalog"] = "never refreshed" if checks["postgresql"] == "up" else "unknown"
        elif utc_now() - refreshed_at > timedelta(seconds=config.catalog_stale_after_s):
            checks["catalog"] = "stale"
        else:
            checks["catalog"] = "refreshed"
    return checks

"""Reservations cached in Redis until they expire, one key per seat, through redis-py.

A seat has one live reservation at a time, so its key answers both "this reservation" (when
the cached one has that id) and "the seat's reservation" in one GET, with one SET per
reservation to keep it.

Read-through: the use case asks here first and falls back to PostgreSQL. When Redis fails,
the cache stays silent for a while (`retry_after`) instead of making every request wait on
a dead server's timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

from ordering.config import Settings, settings
from ordering.domain.reservation import Reservation
from ordering.observability import logger


def _encode(reservation: Reservation) -> str:
    r = reservation
    return json.dumps(
        {
            "id": str(r.id),
            "seatId": str(r.seat_id),
            "customerHash": r.customer_hash.hex(),
            "seatNumber": r.seat_number,
            "section": r.section,
            "basePrice": str(r.base_price),
            "status": r.status,
            "createdAt": r.created_at.isoformat(),
            "expiresAt": r.expires_at.isoformat(),
        }
    )


def _decode(raw: bytes | str) -> Reservation:
    data = json.loads(raw)
    return Reservation(
        id=UUID(data["id"]),
        seat_id=UUID(data["seatId"]),
        customer_hash=bytes.fromhex(data["customerHash"]),
        seat_number=data["seatNumber"],
        section=data["section"],
        base_price=Decimal(data["basePrice"]),
        status=data["status"],
        created_at=datetime.fromisoformat(data["createdAt"]),
        expires_at=datetime.fromisoformat(data["expiresAt"]),
    )


class ReservationCache:
    """The cache of one execution environment; with no client (no REDIS_URL), every lookup
    misses and nothing is written, so the service runs on PostgreSQL alone.

    Single-key commands only (a batch is a pipeline of them, one round trip): in cluster mode
    (ElastiCache Serverless) one command's keys must share a hash slot."""

    def __init__(self, client: redis.Redis | None, prefix: str, retry_after_s: float) -> None:
        self._client = client
        self._prefix = prefix
        self._retry_after_s = retry_after_s
        self._silent_until = 0.0

    def _by_seat(self, seat_id: UUID) -> str:
        return f"{self._prefix}seat-reservation:{seat_id}"

    def _available(self) -> redis.Redis | None:
        return self._client if self._client is not None and time.monotonic() >= self._silent_until else None

    def _failed(self, action: str, exc: Exception) -> None:
        """Keep silent for a while, so that requests do not each wait on a dead server's timeout."""
        self._silent_until = time.monotonic() + self._retry_after_s
        logger.warning("reservation cache unavailable; using PostgreSQL", action=action, error=type(exc).__name__)

    def _get(self, key: str) -> Reservation | None:
        client = self._available()
        if client is None:
            return None
        try:
            raw = client.get(key)
        except (redis.RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError):
            logger.warning("undecodable reservation cache entry ignored", key=key)
            return None

    def _pipeline(self, action: str, fill: Callable[[Pipeline], None]) -> None:
        client = self._available()
        if client is None:
            return
        try:
            pipeline = client.pipeline(transaction=False)
            fill(pipeline)
            pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed(action, exc)

    def ping(self) -> str:
        """`up`, `down`, or `not configured` (no REDIS_URL)."""
        if self._client is None:
            return "not configured"
        try:
            self._client.ping()
        except (redis.RedisError, OSError):
            return "down"
        return "up"

    def get(self, reservation_id: UUID, seat_id: UUID) -> Reservation | None:
        """The reservation, if it is the one cached for the seat the request names."""
        cached = self._get(self._by_seat(seat_id))
        return cached if cached is not None and cached.id == reservation_id else None

    def get_for_seat(self, seat_id: UUID) -> Reservation | None:
        """The seat's latest live reservation, whoever holds it."""
        return self._get(self._by_seat(seat_id))

    def put(self, reservations: Iterable[Reservation], now: datetime) -> None:
        """Cache live reservations until they expire, in one round trip."""
        live = [r for r in reservations if r.is_live(now)]

        def fill(pipeline: Pipeline) -> None:
            for r in live:
                pipeline.set(self._by_seat(r.seat_id), _encode(r), px=_ttl_ms(r, now))

        if live:
            self._pipeline("put", fill)

    def evict(self, reservations: Iterable[Reservation]) -> None:
        """Forget the reservations, in one round trip: a DEL per key."""
        keys = [self._by_seat(r.seat_id) for r in reservations]

        def fill(pipeline: Pipeline) -> None:
            for key in keys:
                pipeline.delete(key)

        if keys:
            self._pipeline("evict", fill)


def _ttl_ms(reservation: Reservation, now: datetime) -> int:
    return max(1, int((reservation.expires_at - now).total_seconds() * 1000))


_lock = threading.Lock()
_current: tuple[Settings, ReservationCache] | None = None


def reservation_cache() -> ReservationCache:
    """The execution environment's cache, made for the current settings; it connects on its
    first command, not here."""
    global _current  # noqa: PLW0603 - one cache per execution environment
    config = settings()
    with _lock:
        if _current is None or _current[0] is not config:
            client = (
                redis.Redis.from_url(
                    config.redis_url,
                    socket_timeout=config.redis_timeout_s,
                    socket_connect_timeout=config.redis_timeout_s,
                    # one retry on a fresh connection: Redis may have closed an idle one (a
                    # restart, a failover, an idle timeout); no backoff, a cache fails fast
                    retry=Retry(NoBackoff(), 1),
                    driver_info=None,  # no CLIENT SETINFO round trips on connect
                    # RESP2: GET, SET and DEL need nothing newer, and redis-py's RESP3 default
                    # spends two round trips on every connect: HELLO, and a CLIENT
                    # MAINT_NOTIFICATIONS handshake the cache has no use for.
                    protocol=2,
                )
                if config.redis_url
                else None
            )
            _current = (config, ReservationCache(client, config.redis_key_prefix, config.redis_retry_after_s))
        return _current[1]


def forget() -> None:
    """Drop the environment's client (after a SnapStart restore: never one connection for many)."""
    global _current  # noqa: PLW0603 - one cache per execution environment
    with _lock:
        _current = None

"""Reservations cached in Redis until they expire, one key per seat.

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
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ordering.config import Settings, settings
from ordering.domain.reservation import Reservation
from ordering.observability import logger


def _encode(reservation: Reservation) -> str:
    return json.dumps(
        {
            "id": str(reservation.id),
            "seatId": str(reservation.seat_id),
            "customerHash": reservation.customer_hash.hex(),
            "seatNumber": reservation.seat_number,
            "section": reservation.section,
            "basePrice": str(reservation.base_price),
            "status": reservation.status,
            "createdAt": reservation.created_at.isoformat(),
            "expiresAt": reservation.expires_at.isoformat(),
        },
        separators=(",", ":"),
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
    def __init__(self, client: redis.Redis, prefix: str, retry_after_s: float) -> None:
        self._client = client
        self._prefix = prefix
        self._retry_after_s = retry_after_s
        self._silent_until = 0.0

    def _by_seat(self, seat_id: UUID) -> str:
        return f"{self._prefix}seat-reservation:{seat_id}"

    def _available(self) -> bool:
        return time.monotonic() >= self._silent_until

    def _failed(self, action: str, exc: Exception) -> None:
        self._silent_until = time.monotonic() + self._retry_after_s
        logger.warning("reservation cache unavailable; using PostgreSQL", action=action, error=type(exc).__name__)

    def _get(self, key: str) -> Reservation | None:
        if not self._available():
            return None
        try:
            raw = self._client.get(key)
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError):
            logger.warning("undecodable reservation cache entry ignored", key=key)
            return None

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
        if not live or not self._available():
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for reservation in live:
                    ttl_ms = max(1, int((reservation.expires_at - now).total_seconds() * 1000))
                    value = _encode(reservation)
                    pipe.set(self._by_seat(reservation.seat_id), value, px=ttl_ms)
                pipe.execute()
        except redis.RedisError as exc:
            self._failed("put", exc)

    def evict(self, reservations: Iterable[Reservation]) -> None:
        keys = [self._by_seat(r.seat_id) for r in reservations]
        if not keys or not self._available():
            return
        try:
            self._client.delete(*keys)
        except redis.RedisError as exc:
            self._failed("evict", exc)


_lock = threading.Lock()
_current: tuple[Settings, ReservationCache] | None = None


class _NoRedis(redis.Redis):
    """Stands in when no REDIS_URL is configured: every call fails like an unreachable server."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        raise redis.ConnectionError("REDIS_URL is not set")


def reservation_cache() -> ReservationCache:
    """The execution environment's cache, made for the current settings; the client connects
    on its first command, not here."""
    global _current  # noqa: PLW0603 - one client (and its connection pool) per execution environment
    config = settings()
    with _lock:
        if _current is None or _current[0] is not config:
            client: redis.Redis
            if config.redis_url:
                client = redis.Redis.from_url(
                    config.redis_url,
                    socket_timeout=config.redis_timeout_s,
                    socket_connect_timeout=config.redis_timeout_s,
                    retry=Retry(NoBackoff(), 0),  # a cache that fails, fails fast
                    health_check_interval=30,
                    driver_info=None,  # no CLIENT SETINFO round trips on connect
                )
            else:
                client = _NoRedis()
            _current = (config, ReservationCache(client, config.redis_key_prefix, config.redis_retry_after_s))
        return _current[1]

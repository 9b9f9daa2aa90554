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
from typing import Any, Protocol
from uuid import UUID

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ordering.config import Settings, settings
from ordering.domain.reservation import Reservation
from ordering.observability import logger

_json_string = json.encoder.encode_basestring_ascii  # a JSON string literal, quotes included, as json.dumps writes it


def _json_string_or_null(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


def _encode(reservation: Reservation) -> str:
    """The reservation as a JSON object: what json.dumps writes for its fields, without
    building the dict first. A batch of 1,000 reservations spent 11 ms in json.dumps here, more
    than on the round trip that caches them; ids, hex, numbers and timestamps need no escaping."""
    r, text = reservation, _json_string_or_null
    return (
        f'{{"id":"{r.id}","seatId":"{r.seat_id}","customerHash":"{r.customer_hash.hex()}",'
        f'"seatNumber":{text(r.seat_number)},"section":{text(r.section)},"basePrice":"{r.base_price}",'
        f'"status":{text(r.status)},"createdAt":"{r.created_at.isoformat()}",'
        f'"expiresAt":"{r.expires_at.isoformat()}"}}'
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


class _Connection(Protocol):
    """What the cache uses of a redis-py connection (redis-py leaves these untyped)."""

    @property
    def is_connected(self) -> bool: ...
    def send_packed_command(self, command: list[bytes]) -> None: ...
    def read_response(self) -> Any: ...
    def disconnect(self) -> None: ...


def _command(*arguments: bytes) -> bytes:
    """One command in the Redis protocol (RESP): an array of bulk strings.

    redis-py's generic command path (argument encoding, packing, retries, instrumentation) cost
    more CPU than anything else this cache does: most of the 34 ms a batch of 1,000 reservations
    spent caching them (bench/RESULTS.md). The cache takes only redis-py's connection pool and
    reply parser, and writes its three commands (GET, SET, DEL) itself, each with one key."""
    return b"*%d\r\n" % len(arguments) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in arguments)


def _set_with_expiry(key: bytes, value: bytes, ttl_ms: int) -> bytes:
    """`SET key value PX ttl_ms`, as _command writes it, in one formatting step: a batch of
    reservations sends a thousand of them."""
    ttl = b"%d" % ttl_ms
    return b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nPX\r\n$%d\r\n%b\r\n" % (
        len(key), key, len(value), value, len(ttl), ttl,
    )  # fmt: skip


def _round_trip(connection: _Connection, commands: bytes, replies: int) -> list[Any]:
    """Send the commands in one write (connecting first if need be) and read their replies."""
    connection.send_packed_command([commands])
    return [connection.read_response() for _ in range(replies)]  # raises the server's errors


class ReservationCache:
    """The cache of one execution environment; with no pool (no REDIS_URL), every lookup
    misses and nothing is written, so the service runs on PostgreSQL alone.

    Each thread keeps one connection, made by the pool (which knows the URL's host, TLS and
    timeouts) but never returned to it: an execution environment runs one invocation at a
    time, and the pool's checkout and return, with the socket poll and metrics that come
    with them, cost more CPU than the GET they wrap (bench/RESULTS.md)."""

    def __init__(self, pool: redis.ConnectionPool | None, prefix: str, retry_after_s: float) -> None:
        self._pool = pool
        self._prefix = prefix
        self._retry_after_s = retry_after_s
        self._silent_until = 0.0
        self._local = threading.local()

    def _by_seat(self, seat_id: UUID) -> bytes:
        return f"{self._prefix}seat-reservation:{seat_id}".encode()

    def _failed(self, action: str, exc: Exception) -> None:
        self._silent_until = time.monotonic() + self._retry_after_s
        logger.warning("reservation cache unavailable; using PostgreSQL", action=action, error=type(exc).__name__)

    def _connection(self, pool: redis.ConnectionPool) -> _Connection:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = pool.make_connection()  # connects on first use
        return connection

    def _exchange(self, action: str, commands: bytes, replies: int) -> list[Any] | None:
        """The replies to the commands, sent in one round trip. None when there is no Redis,
        or it failed (and the cache then keeps silent for a while)."""
        if self._pool is None or time.monotonic() < self._silent_until:
            return None
        connection = self._connection(self._pool)
        try:
            was_connected = connection.is_connected
            try:
                return _round_trip(connection, commands, replies)
            except redis.ConnectionError:
                if not was_connected:
                    raise
                # Redis closed a connection that had been idle (a restart, a failover, an
                # idle timeout): redis-py dropped it; connect again, once.
                return _round_trip(connection, commands, replies)
        except (redis.RedisError, OSError) as exc:
            connection.disconnect()  # replies may be left unread
            self._failed(action, exc)
            return None

    def _get(self, key: bytes) -> Reservation | None:
        replies = self._exchange("get", _command(b"GET", key), 1)
        if not replies or replies[0] is None:
            return None
        try:
            return _decode(replies[0])
        except (ValueError, KeyError, TypeError):
            logger.warning("undecodable reservation cache entry ignored", key=key.decode())
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
        if live:
            commands = b"".join(
                _set_with_expiry(self._by_seat(r.seat_id), _encode(r).encode(), _ttl_ms(r, now)) for r in live
            )
            self._exchange("put", commands, len(live))

    def evict(self, reservations: Iterable[Reservation]) -> None:
        """Forget the reservations, in one round trip: a DEL per key, since in cluster mode
        (ElastiCache Serverless) one command's keys must share a hash slot."""
        keys = [self._by_seat(r.seat_id) for r in reservations]
        if keys:
            self._exchange("evict", b"".join(_command(b"DEL", key) for key in keys), len(keys))


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
            pool = (
                redis.ConnectionPool.from_url(
                    config.redis_url,
                    socket_timeout=config.redis_timeout_s,
                    socket_connect_timeout=config.redis_timeout_s,
                    retry=Retry(NoBackoff(), 0),  # a cache that fails, fails fast: no reconnect loop
                    health_check_interval=30,
                    driver_info=None,  # no CLIENT SETINFO round trips on connect
                    # RESP2: GET, SET and DEL need nothing newer, and redis-py's RESP3 default
                    # spends two round trips on every connect: HELLO, and a CLIENT
                    # MAINT_NOTIFICATIONS handshake the cache has no use for.
                    protocol=2,
                )
                if config.redis_url
                else None
            )
            _current = (config, ReservationCache(pool, config.redis_key_prefix, config.redis_retry_after_s))
        return _current[1]

"""The cache writes its Redis commands itself (ordering/cache/reservations.py); they must be
byte for byte what redis-py would send."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from ordering.cache.reservations import _command, _set_with_expiry


def _as_redis_py_packs(*arguments: bytes) -> bytes:
    connection: Any = redis.Connection  # redis-py leaves its constructor and packer untyped
    return b"".join(connection().pack_command(*arguments))


@pytest.mark.parametrize(
    "arguments",
    [
        (b"GET", b"ordering:seat-reservation:2f8b1e1c-3b0e-4f6e-9a55-1e0d1e2f3a4b"),
        (b"DEL", b"a", b"b", b"c"),
        (b"SET", b"key", '{"seatNumber":"Fila \u00d1-7"}'.encode(), b"PX", b"900000"),
        (b"SET", b"", b"\r\n$3\r\n", b"PX", b"1"),
    ],
)
def test_commands_are_packed_as_redis_py_packs_them(arguments: tuple[bytes, ...]) -> None:
    # Given a command's arguments; When the cache packs it; Then the bytes are redis-py's
    assert _command(*arguments) == _as_redis_py_packs(*arguments)


def test_set_with_expiry_is_the_set_command() -> None:
    key, value = b"ordering:seat-reservation:1", '{"section":"Platea \u00c9"}'.encode()
    assert _set_with_expiry(key, value, 899_999) == _command(b"SET", key, value, b"PX", b"899999")

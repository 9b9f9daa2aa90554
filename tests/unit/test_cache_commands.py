"""The cache writes its Redis commands and its JSON itself (ordering/cache/reservations.py);
they must be byte for byte what redis-py and json.dumps would write."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from ordering.cache.reservations import _command, _decode, _encode, _set_with_expiry
from ordering.domain.reservation import Reservation


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


_texts = st.none() | st.text()


@given(seat_number=_texts, section=_texts, status=st.text(), price=st.decimals(allow_nan=False, allow_infinity=False))
def test_a_reservation_is_cached_as_json_dumps_writes_it_and_read_back_whole(
    seat_number: str | None, section: str | None, status: str, price: Decimal
) -> None:
    # Given a reservation with any text Inventory may send (quotes, backslashes, controls, non-ASCII)
    now = datetime.now(UTC)
    reservation = Reservation(
        id=uuid.uuid4(), seat_id=uuid.uuid4(), customer_hash=bytes(range(32)), seat_number=seat_number,
        section=section, base_price=price, status=status, created_at=now, expires_at=now + timedelta(minutes=15),
    )  # fmt: skip
    # When the cache encodes it
    encoded = _encode(reservation)
    # Then it is the JSON json.dumps writes for those fields, and decodes to the same reservation
    assert encoded == json.dumps(
        {
            "id": str(reservation.id), "seatId": str(reservation.seat_id), "customerHash": bytes(range(32)).hex(),
            "seatNumber": seat_number, "section": section, "basePrice": str(price), "status": status,
            "createdAt": now.isoformat(), "expiresAt": reservation.expires_at.isoformat(),
        },
        separators=(",", ":"),
    )  # fmt: skip
    assert _decode(encoded) == reservation

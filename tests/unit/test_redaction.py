"""What dead letters and kept batches keep of a record: customer ids as keyed hashes, wherever
they are in it (ordering/redaction.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from ordering.config import settings
from ordering.redaction import redacted

KEY = "unit-test-redaction-key"


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REDACTION_SECRET", KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


def _keyed(value: str) -> str:
    return "hmac-sha256:" + hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_customer_ids_are_replaced_however_deep_they_are() -> None:
    # Given a record with customer ids at the top, in an object and in a list
    record = {"customerId": "a", "order": {"guestToken": "b"}, "items": [{"userId": "c"}, "customerId"], "n": 1}
    # When it is redacted
    kept = json.loads(redacted(json.dumps(record).encode()) or b"")
    # Then each is its keyed hash, and the rest is as it was
    assert kept == {
        "customerId": _keyed("a"),
        "order": {"guestToken": _keyed("b")},
        "items": [{"userId": _keyed("c")}, "customerId"],
        "n": 1,
    }


def test_a_record_without_a_customer_id_is_kept_byte_for_byte() -> None:
    raw = b'{"paymentId": "p-1",  "amount": 100.00}'
    assert redacted(raw) == raw

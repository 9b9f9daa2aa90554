"""What is kept of a consumed record for a person to inspect (dead letters, the local runner's
failure records): the record as it came, but every customer id and guest token replaced by its
HMAC-SHA256 under a secret of the configuration (REDACTION_SECRET, or REDACTION_SECRET_ARN in
Secrets Manager). Keyed, so that whoever reads the records cannot confirm a guessed id offline;
stable, so that records of the same customer can still be matched with one another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from ordering.config import ConfigurationError, settings
from ordering.secrets import secret_string

PREFIX = "hmac-sha256:"
# the fields of the platform's payloads that may carry a bearer secret (a guest token or an
# anonymous customer id is also a customer id at Inventory and Payment)
SECRET_FIELDS = frozenset({"customerId", "customer_id", "guestToken", "guest_token", "userId", "user_id"})
# the same fields in a value that is not JSON (a producer's bug), found as text
_NAMES = b"|".join(name.encode() for name in sorted(SECRET_FIELDS))
_IN_TEXT = re.compile(rb'("(?:' + _NAMES + rb')"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def _key() -> bytes:
    config = settings()
    if config.redaction_secret is not None:
        return config.redaction_secret.encode()
    if config.redaction_secret_arn is not None:
        return secret_string(config.redaction_secret_arn).encode()
    raise ConfigurationError("REDACTION_SECRET or REDACTION_SECRET_ARN must be set")


def pseudonym(value: str | bytes, key: bytes | None = None) -> str:
    """The keyed hash a customer id is kept as."""
    data = value.encode() if isinstance(value, str) else value
    return PREFIX + hmac.new(key or _key(), data, hashlib.sha256).hexdigest()


def redacted(value: bytes | None) -> bytes | None:
    """A record's value as it may be kept: customer ids and guest tokens replaced by their keyed
    hashes, in a JSON object or, failing that, wherever they appear as `"field": "…"` text."""
    if value is None:
        return None
    key = _key()
    try:
        document: Any = json.loads(value)
        redacted_document, changed = _redacted(document, key)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than it is worth walking
        return _IN_TEXT.sub(lambda found: found[1] + pseudonym(found[2], key).encode() + found[3], value)
    return json.dumps(redacted_document).encode() if changed else value


def _redacted(document: Any, key: bytes) -> tuple[Any, bool]:
    """The document with the secret fields of every object in it, however deep, replaced."""
    if isinstance(document, list):
        parts = [_redacted(item, key) for item in document]
        return [part for part, _ in parts], any(changed for _, changed in parts)
    if not isinstance(document, dict):
        return document, False
    kept: dict[str, Any] = {}
    changed = False
    for name, item in document.items():
        if name in SECRET_FIELDS and isinstance(item, str):
            kept[name], changed = pseudonym(item, key), True
        else:
            kept[name], deeper = _redacted(item, key)
            changed = changed or deeper
    return kept, changed


def redacted_invocation_record(document: dict[str, Any]) -> dict[str, Any]:
    """A kept batch (Lambda's on-failure invocation record for Kafka: the batch's MSK event under
    `payload`, each record's value in base64) with every record's value redacted."""
    payload = document.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), dict):
        raise ValueError("not an invocation record of a Kafka batch: no payload.records")
    records: dict[str, Any] = payload["records"]
    _key()  # a missing secret fails here, before anything is changed
    kept = {
        partition: [_with_value_redacted(record) for record in batch] if isinstance(batch, list) else batch
        for partition, batch in records.items()
    }
    return {**document, "payload": {**payload, "records": kept}}


def _with_value_redacted(record: Any) -> Any:
    if not isinstance(record, dict) or not isinstance(record.get("value"), str):
        return record
    value = base64.b64decode(record["value"])
    return {**record, "value": base64.b64encode(redacted(value) or b"").decode()}

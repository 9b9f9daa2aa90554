"""JSON with money as exact decimals: parsed into Decimal, written as numbers with two places.

simplejson writes the replies: the standard library's encoder cannot write a Decimal as a JSON
number (it would be a float or a string), and simplejson's RawJSON can.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import simplejson

CENTS = Decimal("0.01")


def loads(text: str | bytes) -> Any:
    """Numbers become Decimal (never a binary float), so a price arrives exactly as sent. A
    document nested deeper than the parser's recursion allows is invalid JSON, like any other."""
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except RecursionError:
        document = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError("nested too deeply", document, 0) from None


def loads_verbatim(text: str | bytes) -> Any:
    """A document whose numbers are kept as they were written: `dumps` writes them back alike."""
    return json.loads(text, parse_float=simplejson.RawJSON, parse_int=simplejson.RawJSON)


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(value: Decimal) -> simplejson.RawJSON:
    return simplejson.RawJSON(str(value.quantize(CENTS)))


def _json_form(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return timestamp(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# made once: simplejson.dumps given any option makes a new encoder at every call, a good part of
# the cost of writing a small body (an encoder keeps no state between calls)
_ENCODER = simplejson.JSONEncoder(default=_json_form, use_decimal=False, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """JSON text, compact; Decimal is written as a number with two places (`50.00`), ids as
    strings, timestamps in UTC."""
    text: str = _ENCODER.encode(value)
    return text


def nul_field(document: Any) -> str | None:
    """The dotted name of the first string in the document that holds a NUL character: no field
    of ours can store one (PostgreSQL text refuses it), and none has a use for it. Walked with a
    stack of its own, not by recursion: a document may nest as deep as the parser allows."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "body"
            continue
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        for name, item in reversed(items):  # reversed: the first is looked at first
            key = str(name)
            if "\x00" in key:
                return f"{path}.{key!r}" if path else repr(key)
            pending.append((f"{path}.{key}" if path else key, item))
    return None

"""JSON with money as exact decimals: parsed into Decimal, written as numbers with two places."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

CENTS = Decimal("0.01")
_encode_string = json.encoder.encode_basestring


def loads(text: str | bytes) -> Any:
    """Numbers become Decimal (never a binary float), so a price arrives exactly as sent."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(value: Any) -> str:
    """Like json.dumps, but Decimal is written as a number with two places (`50.00`)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:  # noqa: PLR0912 - one branch per JSON type
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, Decimal):
        out.append(str(value.quantize(CENTS)))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, UUID | Enum):
        out.append(_encode_string(str(value.value if isinstance(value, Enum) else value)))
    elif isinstance(value, datetime):
        out.append(_encode_string(timestamp(value)))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_encode_string(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

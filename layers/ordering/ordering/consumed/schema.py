"""Payload parsing shared by every topic: JSON with exact decimals, no NUL in any string, then a
pydantic schema. A record refused here can never succeed: it is set aside at once (consumer.py)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ordering import jsonio
from ordering.consumed.consumer import UnprocessableRecord


def parse_model[Model: BaseModel](model: type[Model], value: bytes | None) -> Model:
    if value is None:
        raise UnprocessableRecord("record has no value")
    try:
        document = jsonio.loads(value)
    except ValueError:
        raise UnprocessableRecord("value is not JSON") from None
    field = jsonio.nul_field(document)
    if field is not None:
        raise UnprocessableRecord(f"schema: {field}: string_nul")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "value"
        raise UnprocessableRecord(f"schema: {field}: {first['type']}") from None

"""The 400 message of a request that validation refused: the field, and what is wrong with it."""

from __future__ import annotations

from typing import Any

from ordering.http.requests import NUL_ERROR

_PROBLEMS = {
    "missing": "is required",
    "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID",
    "string_type": "must be a string",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "decimal_max_digits": "must have at most 12 digits",
    "finite_number": "must be a finite number",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "decimal_max_places": "must have at most 2 decimal places",
    "email": "must be an email address",
}


def validation_message(error: dict[str, Any]) -> str:
    """A 400 message naming the field and the problem, from one pydantic error."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "path", "query", "header")]
    kind = error.get("type", "")
    if kind == NUL_ERROR:  # found by the body's own check, which names the field (requests.py)
        return f"Field '{error.get('ctx', {}).get('field')}' must not contain NUL characters"
    if kind == "json_invalid":
        return "Request body is not valid JSON"
    if not location:
        return "Request body must be a JSON object"
    field = ".".join(location)
    if kind == "is_instance_of" and error.get("ctx", {}).get("class") == "Decimal":
        return f"Field '{field}' must be a number"
    context = error.get("ctx", {})
    if kind == "greater_than_equal":
        return f"Field '{field}' must be at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"Field '{field}' must be at most {context.get('le')}"
    if kind in ("int_parsing", "int_type"):
        return f"Field '{field}' must be an integer"
    if kind == "string_too_long":
        return f"Field '{field}' must be at most {error.get('ctx', {}).get('max_length')} characters"
    return f"Field '{field}' {_PROBLEMS.get(kind, 'is invalid')}"

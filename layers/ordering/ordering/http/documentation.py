"""The `responses` of a route for the OpenAPI document (openapi.json): its answer's model, and the
contract's error messages by status."""

from __future__ import annotations

from typing import Any

from ordering.domain.errors import OrderingError
from ordering.http.responses import JSON, Answer, ErrorBody

# What any route may answer besides its own errors (docs/contract.md, "Endpoints and their errors").
_COMMON: tuple[tuple[int, str], ...] = (
    (400, "Field '<name>' <problem> (a malformed body, path or query)"),
    (400, "Request body is not valid JSON"),
    (400, "Request body must be a JSON object"),
    (400, "Request body must be JSON text in UTF-8"),
    (400, "Request body must be at most 16384 bytes"),
    (415, "Content-Type must be application/json"),
    (503, "Service unavailable"),
    (500, "Internal error"),
)
# what a POST, PATCH or DELETE with an Idempotency-Key may answer (http/idempotency.py)
_KEYED: tuple[tuple[int, str], ...] = (
    (400, "Header 'Idempotency-Key' must be 1 to 255 visible ASCII characters"),
    (409, "Idempotency key reused with a different request"),
    (409, "Idempotency key is in use by a request in progress"),
)
_IDENTITY: tuple[tuple[int, str], ...] = (
    (400, "Either UserId or GuestToken must be provided"),
    (401, "Unauthorized"),
    (400, "A signed-in request cannot carry a guest token"),
    (400, "A request cannot carry both a userId and a guest token"),
)


def refusal(error: type[OrderingError] | OrderingError) -> tuple[int, str]:
    """(status, message) of one of the contract's errors, for `documented`."""
    return error.status, error.message


def documented(
    status: int,
    model: type[Answer],
    *errors: tuple[int, str],
    identified: bool = True,
    keyed: bool = False,
    description: str = "OK",
) -> dict[int, Any]:
    """The `responses` of a route for the OpenAPI document: its answer's model, and each error
    status with every message it may carry."""
    messages: dict[int, list[str]] = {}
    for code, message in (*(_IDENTITY if identified else ()), *errors, *(_KEYED if keyed else ()), *_COMMON):
        messages.setdefault(code, []).append(message)
    responses: dict[int, Any] = {status: {"description": description, "content": {JSON: {"model": model}}}}
    for code, texts in sorted(messages.items()):
        responses[code] = {
            "description": "; ".join(texts),
            "content": {
                JSON: {
                    "model": ErrorBody,
                    "examples": {f"e{n}": {"value": {"error": text}} for n, text in enumerate(texts, 1)},
                }
            },
        }
    return responses

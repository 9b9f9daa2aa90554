"""`Idempotency-Key` on POST, PATCH and DELETE: a retry with the same key and body gets the first
answer back (with `Idempotent-Replayed: true`), the same key with another body is a 409, and a
concurrent duplicate waits for the first. Powertools' idempotency utility does the protocol; its
records live in PostgreSQL, in the effect's own transaction (store/idempotency.py). Keys are
scoped to the caller and kept 24 h."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from ordering import jsonio
from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.http.identity import header

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    from ordering.store.idempotency import PostgresPersistenceLayer

HEADER = "idempotency-key"
KEY_PREFIX = "ordering"
KEPT_S = 24 * 3600
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header values are


_configuring = threading.Lock()


@cache
def _store() -> PostgresPersistenceLayer:
    # Powertools' idempotency package imports boto3 (for its DynamoDB layer): 100 ms of cold import
    # (python -X importtime) that requests without a key should not pay
    from ordering.store.idempotency import PostgresPersistenceLayer  # noqa: PLC0415

    return PostgresPersistenceLayer()  # type: ignore[no-untyped-call] # Powertools leaves __init__ untyped


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    answer = response
    return {**answer, "headers": {**answer["headers"], "Idempotent-Replayed": "true"}}


def _key(headers: Mapping[str, str] | None) -> str | None:
    value = header(headers, HEADER)
    if value is None:
        return None
    key = value.strip()
    if not _KEY.fullmatch(key):
        raise errors.InvalidRequest("Header 'Idempotency-Key' must be 1 to 255 visible ASCII characters")
    return key


def answer_once(event: Any, caller: Caller, context: Any, answer: Callable[[], Response[str]]) -> Response[str]:
    """The answer of the request, computed once per caller and key (without the header: as it is)."""
    key = _key(event.headers)
    if key is None:
        return answer()
    # Imported on the first request with a key, as _store says why
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function  # noqa: PLC0415
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        BaseError,
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=KEPT_S,
        response_hook=_replayed,
        lambda_context=context,
    )

    store = _store()
    with _configuring:  # Powertools marks a store configured before it compiles its expressions
        # one prefix for every endpoint (not the function's name): the same key on another
        # request, whichever endpoint, is a 409, as the contract says
        store.configure(config, key_prefix=KEY_PREFIX)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=store, config=config, key_prefix=KEY_PREFIX
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        response = answer()
        body, echoed = _without_echoes(response.body, caller)
        return {"status": response.status_code, "body": body, "headers": dict(response.headers), "echo": echoed}

    request = {
        "scope": caller.owner_key or "platform-service",
        "key": key,
        "request": {"method": event.http_method, "path": event.path, "body": _without_identity(event.body)},
    }
    try:
        stored = once(request=request)
    except IdempotencyValidationError:
        raise errors.IdempotencyKeyReused() from None
    except IdempotencyAlreadyInProgressError:
        raise errors.IdempotencyKeyInUse() from None
    except BaseError as exc:  # the records' database, or Powertools out of retries: try again later
        raise errors.ServiceUnavailable("idempotency records unavailable") from exc
    return Response(
        status_code=stored["status"],
        content_type="application/json",
        body=_with_echoes(stored["body"], stored.get("echo", []), caller),
        headers=stored["headers"],
    )


# An order's answer echoes the caller's bearer secret to them (a guest token, an anonymous id:
# http/responses.py, order_out). What is kept to replay it holds neither: they are taken out before
# the answer is stored, and put back from the retried request, whose caller is the same (a
# key's records are scoped to its caller's owner key, a hash of that very secret).
_ECHOED = {"guestToken": "guest_token", "userId": "anonymous_id"}


def _without_echoes(body: Any, caller: Caller) -> tuple[Any, list[str]]:
    document = jsonio.loads_verbatim(body) if isinstance(body, str) and body.startswith("{") else None
    if not isinstance(document, dict):
        return body, []
    echoed = []
    for field, attribute in _ECHOED.items():
        secret = getattr(caller, attribute)
        if secret is not None and document.get(field) == secret:
            document[field] = None
            echoed.append(field)
    return (jsonio.dumps(document), echoed) if echoed else (body, [])


def _with_echoes(body: Any, echoed: list[str], caller: Caller) -> Any:
    if not echoed:
        return body
    document = jsonio.loads_verbatim(body)
    for field in echoed:
        document[field] = getattr(caller, _ECHOED[field])
    return jsonio.dumps(document)


def _without_identity(body: str | None) -> str:
    """The request as compared with a retry's: the body without its identity fields, which the
    key's scope holds already (as a hash), so that no hash of a guest token or an anonymous id
    stands in the record beside the rest of the request that is no secret."""
    try:
        document = json.loads(body or "", parse_float=str, parse_int=str)
    except ValueError:
        return body or ""
    if not isinstance(document, dict):
        return body or ""
    return json.dumps({k: v for k, v in document.items() if k not in ("guestToken", "userId")}, sort_keys=True)

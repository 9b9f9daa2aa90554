"""What every API function shares: the resolver, the mapping of errors to responses, and the
JSON shape of an order. A function's app.py adds its route and calls one use case."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering import snapstart
from ordering.config import settings
from ordering.domain.errors import OrderingError, ServiceUnavailable
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.http import jsonio
from ordering.http.models import NUL_ERROR
from ordering.http.schemas import ErrorBody
from ordering.observability import logger
from ordering.store.db import invocation_deadline

JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=jsonio.dumps(body), headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return json_response(status, {"error": message}, headers)


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
    if kind == NUL_ERROR:  # found by the body's own check, which names the field (models.py)
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


def api() -> APIGatewayRestResolver:
    """The resolver of one API function: validation on, numbers parsed as Decimal, and the
    contract's error bodies in place of Powertools' defaults."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=jsonio.loads)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        return error_response(HTTPStatus.BAD_REQUEST, validation_message(exc.errors()[0]))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")

    @app.exception_handler(OrderingError)
    def refused(exc: OrderingError) -> Response[str]:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(ServiceUnavailable)
    def unavailable(exc: Exception) -> Response[str]:
        logger.warning("service unavailable", reason=str(exc), cause=type(exc.__cause__).__name__)
        return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "Service unavailable")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unexpected failure")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error")

    return app


def lambda_handler_for(
    app: APIGatewayRestResolver, *, primed_by: tuple[str, str, str | None]
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point of an API function: refuse oversized bodies, then route.
    `primed_by`: (method, path, body) of a request this function refuses before any I/O, which
    SnapStart runs before the snapshot (ordering/snapstart.py)."""

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # API Gateway's request id, read directly: Powertools' correlation_id_path would
        # evaluate a JMESPath expression on every request for the same value.
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        refusal = _refuse_before_routing(event)
        if refusal is not None:
            response: dict[str, Any] = {
                "statusCode": refusal[0],
                "headers": {"Content-Type": JSON},
                "body": jsonio.dumps({"error": refusal[1]}),
                "isBase64Encoded": False,
            }
        else:
            with invocation_deadline(context):
                response = app.resolve(event, context)
        # on every answer of the public API, refusals included: a browser reads no body without
        # it. Never on the internal API's: a browser has no business reading those.
        origin = settings().cors_allow_origin
        if origin and not is_internal(event):
            response.setdefault("multiValueHeaders", {})["Access-Control-Allow-Origin"] = [origin]
        return response

    method, path, body = primed_by
    context = cast(LambdaContext, _Priming())
    snapstart.prepare(f"{method} {path}", lambda: lambda_handler(_priming_event(method, path, body), context))
    return lambda_handler


def _priming_event(method: str, path: str, body: str | None) -> dict[str, Any]:
    """A proxy event of the API for a request that needs no identity and does no I/O."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": JSON},
        "multiValueHeaders": {"Content-Type": [JSON]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": "snapstart-priming", "stage": "priming", "httpMethod": method},
        "body": body,
        "isBase64Encoded": False,
    }


class _Priming:
    """The context of the priming request: as much of LambdaContext as is read."""

    function_name = "snapstart-priming"
    function_version = "priming"
    invoked_function_arn = "arn:aws:lambda:priming"
    memory_limit_in_mb = 1024
    aws_request_id = "snapstart-priming"
    log_group_name = log_stream_name = "priming"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def _refuse_before_routing(event: dict[str, Any]) -> tuple[int, str] | None:
    """Bodies too large, not a JSON object, or not declared as JSON are refused before parsing."""
    body = event.get("body")
    if not body:
        return None
    limit = settings().max_body_bytes
    if len(body) > limit:
        return HTTPStatus.BAD_REQUEST, f"Request body must be at most {limit} bytes"
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", JSON).split(";")[0].strip().lower()
    if content_type != JSON:
        return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"
    _lower_media_type(event)
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return HTTPStatus.BAD_REQUEST, "Request body must be JSON text in UTF-8"
    if not body.lstrip().startswith("{"):
        return HTTPStatus.BAD_REQUEST, "Request body must be a JSON object"
    return None


def _lower_media_type(event: dict[str, Any]) -> None:
    """Media types compare case-insensitively (RFC 9110), but Powertools' body parser compares
    `application/json` case-sensitively and fails on `Application/JSON`: the request's media type
    is handed on in lower case, as the client meant it."""
    for name in ("headers", "multiValueHeaders"):
        for key, value in list((event.get(name) or {}).items()):
            if key.lower() != "content-type":
                continue
            values = value if isinstance(value, list) else [value]
            lowered = [_lowered_media_type(str(one)) for one in values]
            event[name][key] = lowered if isinstance(value, list) else lowered[0]


def _lowered_media_type(value: str) -> str:
    media_type, separator, parameters = value.partition(";")
    return media_type.strip().lower() + separator + parameters


def is_internal(event: Mapping[str, Any] | None) -> bool:
    """Whether the request came through the private internal API: its stage, and only its,
    carries the stage variable `api: internal` (template.yaml), which no caller can set."""
    return ((event or {}).get("stageVariables") or {}).get("api") == "internal"


def order_body(order: Order, caller: Caller) -> dict[str, Any]:
    """The order as the contract shows it. Bearer secrets (a guest token, an anonymous
    customer id) are echoed only to the caller who sent them: the service stores their hash."""
    owner = caller.owns(order)
    body: dict[str, Any] = {
        "id": order.id,
        "userId": order.user_id or (caller.anonymous_id if owner else None),
        "guestToken": caller.guest_token if owner else None,
        "totalAmount": order.total_amount,
        "state": order.state,
        "createdAt": order.created_at,
        "paidAt": order.paid_at,
        "items": [
            {
                "id": item.id,
                "seatId": item.seat_id,
                "price": item.price,
                "reservationId": item.reservation_id,
                "seatNumber": item.seat_number,
                "section": item.section,
            }
            for item in order.items
        ],
    }
    return body


def order_details(order: Order, caller: Caller, currency: str) -> dict[str, Any]:
    """GET /orders/{orderId}: the order, plus what the platform's Fulfillment service reads
    (case-insensitively). It keeps `customerEmail` and `seatNumber` in NOT NULL columns, so
    neither is ever null: a null would mean no ticket and an order stuck at paid."""
    first = order.items[0] if order.items else None
    return {
        **order_body(order, caller),
        "customerEmail": order.customer_email or "",
        "orderId": order.id,
        "eventId": first.concert_event_id if first else None,
        "eventName": None,
        "seatNumber": (first.seat_number or str(first.seat_id)) if first else "",
        "price": order.total_amount,
        "currency": currency,
    }


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
    model: type[Any],
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

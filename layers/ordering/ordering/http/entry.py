"""The Lambda entry point of an API function: bodies refused before routing, the deadline of the
invocation, CORS on the public API, and the SnapStart priming request."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering import snapstart
from ordering.config import settings
from ordering.http.responses import JSON, ErrorBody, build_answers
from ordering.observability import logger
from ordering.store.db import invocation_deadline


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
                "body": ErrorBody(error=refusal[1]).text(),
                "isBase64Encoded": False,
            }
        else:
            with invocation_deadline(context, budget_s=settings().api_request_budget_s):
                response = app.resolve(event, context)
        # on every answer of the public API, refusals included: a browser reads no body without
        # it. Never on the internal API's: a browser has no business reading those.
        origin = settings().cors_allow_origin
        if origin and not is_internal(event):
            response.setdefault("multiValueHeaders", {})["Access-Control-Allow-Origin"] = [origin]
        return response

    method, path, body = primed_by
    context = cast(LambdaContext, _Priming())

    def prime() -> None:
        lambda_handler(_priming_event(method, path, body), context)
        build_answers()

    snapstart.prepare(f"{method} {path}", prime)
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

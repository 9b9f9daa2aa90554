"""The resolver every API function routes with, and the mapping of errors to the contract's answers."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from ordering import jsonio
from ordering.domain.errors import OrderingError, ServiceUnavailable
from ordering.http.responses import ErrorBody, json_response
from ordering.http.validation_messages import validation_message
from ordering.observability import logger

RETRY_AFTER = {"Retry-After": "1"}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return json_response(status, ErrorBody(error=message), headers)


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
        # a client (or the platform's frontend) tries again in a second rather than at once
        return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "Service unavailable", RETRY_AFTER)

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unexpected failure")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error")

    return app

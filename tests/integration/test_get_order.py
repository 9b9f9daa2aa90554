"""GET /orders/{orderId} through its API Gateway event."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from ordering.config import settings
from ordering.observability import logger
from ordering_local.events import api_gateway_event
from ordering_local.invoke import invoke
from tests.support import EMAIL, Service, bearer


def test_the_owner_reads_the_order_with_the_customer_email(service: Service) -> None:
    # Given an order
    order = service.cart()
    # When its owner reads it
    reply = service.get(f"/orders/{order['id']}", bearer())
    # Then they get it, with the email of the token that created it and what Fulfillment reads
    assert reply.status == 200
    assert reply.body == {
        **order,
        "customerEmail": EMAIL,
        "orderId": order["id"],
        "eventId": None,  # reservation-created does not say which concert
        "eventName": None,
        "seatNumber": "VIP-A-12",
        "price": order["totalAmount"],
        "currency": "USD",
    }


def test_a_guest_reads_with_the_guest_token_header(service: Service) -> None:
    order = service.cart(guest="guest-abc123xyz")
    reply = service.get(f"/orders/{order['id']}", {"X-Guest-Token": "guest-abc123xyz"})
    assert reply.status == 200
    assert reply.body["id"] == order["id"]
    assert reply.body["guestToken"] == "guest-abc123xyz"
    assert reply.body["customerEmail"] == ""  # never null, never the guest token


def test_a_service_role_reads_any_order(service: Service) -> None:
    order = service.cart()
    reply = service.get(f"/orders/{order['id']}", bearer("fulfillment-svc", role="fulfillment"))
    assert reply.status == 200
    assert reply.body["customerEmail"] == EMAIL
    assert reply.body["guestToken"] is None


def test_anyone_else_is_told_the_order_does_not_exist(service: Service) -> None:
    # Given an order of user-123
    order = service.cart()
    # When another user, a guest, or a non-service role asks for it
    replies = [
        service.get(f"/orders/{order['id']}", bearer("someone-else")),
        service.get(f"/orders/{order['id']}", {"X-Guest-Token": "guess"}),
        service.get(f"/orders/{order['id']}", bearer("someone-else", role="customer")),
    ]
    # Then each sees the same 404 as for an order that does not exist
    unknown = service.get(f"/orders/{uuid.uuid4()}", bearer())
    assert [(reply.status, reply.error) for reply in [*replies, unknown]] == [(404, "Order not found")] * 4


def test_no_identity_is_refused(service: Service) -> None:
    order = service.cart()
    reply = service.get(f"/orders/{order['id']}")
    assert (reply.status, reply.error) == (400, "Either UserId or GuestToken must be provided")


def test_an_order_id_that_is_not_a_uuid_is_refused(service: Service) -> None:
    reply = service.get("/orders/not-a-uuid", bearer())
    assert (reply.status, reply.error) == (400, "Field 'orderId' must be a UUID")


def test_a_database_that_is_down_is_a_503_not_a_hang(service: Service, database_down: None) -> None:
    # Given the database cannot be reached
    # When an order is read
    reply = service.get(f"/orders/{uuid.uuid4()}", bearer())
    # Then the service answers at once that it is unavailable
    assert (reply.status, reply.error) == (503, "Service unavailable")


def test_what_a_request_logs_carries_its_api_gateway_request_id(service: Service, database_down: None) -> None:
    # Given the database cannot be reached, so reading an order logs a warning
    order_id = str(uuid.uuid4())
    event = api_gateway_event(
        "GET", f"/orders/{order_id}", resource="/orders/{orderId}", path_parameters={"orderId": order_id},
        headers=bearer(),
    )  # fmt: skip
    function = next(f for f in service.functions if f.name == "GetOrderFunction")
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logger.registered_formatter)  # lines as the service writes them
    logging.getLogger(logger.name).addHandler(handler)
    try:
        # When the order is read
        assert invoke(function, event)["statusCode"] == 503
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
    # Then the warning carries the id API Gateway gave the request, to find it by
    logged = [json.loads(line) for line in written.getvalue().splitlines() if "service unavailable" in line]
    assert [line["correlation_id"] for line in logged] == [event["requestContext"]["requestId"]]


def test_browsers_get_the_configured_cors_origin(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the API is configured for one origin
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://tickets.example.com")
    settings.cache_clear()
    try:
        # When anything is asked of it
        reply = service.get(f"/orders/{uuid.uuid4()}", bearer())
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    # Then the answer names that origin, so the browser may read it
    assert reply.headers["Access-Control-Allow-Origin"] == "https://tickets.example.com"

"""The API's answers: the JSON of an order, and a response from a body."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.http import jsonio

JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=jsonio.dumps(body), headers=headers)


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

"""The API's answers: one pydantic model per shape, which writes the body a handler answers with
and documents it in openapi.json. A model holds Python values (ids, Decimal money, timestamps,
states); it is written as jsonio writes JSON (money as a number with two places)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

from ordering import jsonio
from ordering.domain.identity import Caller
from ordering.domain.order import Order, OrderState

JSON = "application/json"

# Each value is dumped as the JSON value it is written as (as jsonio writes it), and documented as
# that: jsonio.dumps then writes the body without its fallback for each id, amount and timestamp,
# a slower way to the same text.
Money = Annotated[Decimal, PlainSerializer(jsonio.money, return_type=Any), WithJsonSchema({"type": "number"})]
Id = Annotated[UUID, PlainSerializer(str), WithJsonSchema({"type": "string", "format": "uuid"})]
Timestamp = Annotated[
    datetime, PlainSerializer(jsonio.timestamp), WithJsonSchema({"type": "string", "format": "date-time"})
]


def _state(value: Any) -> OrderState:
    return OrderState(value)


# checked by the enum itself, not by pydantic's enum schema: the document lists the states in
# place, as the contract does, rather than as a schema of their own
State = Annotated[
    OrderState,
    PlainValidator(_state),
    WithJsonSchema({"type": "string", "enum": [state.value for state in OrderState]}),
]


class Answer(BaseModel):
    # Built at its first answer, not at import: a function imports every shape and answers with one
    # or two. Before a SnapStart snapshot all are built (build_answers).
    model_config = ConfigDict(defer_build=True)

    def text(self) -> str:
        """The body as written. A field that is not required is left out unless it was given."""
        return jsonio.dumps(self.model_dump(exclude_unset=True))


class ErrorBody(Answer):
    error: str = Field(description="The contract's message, to the letter (docs/contract.md)")


class OrderItemOut(Answer):
    # read from the domain's OrderItem, attribute by attribute, in the same pass as its order
    model_config = ConfigDict(from_attributes=True)

    id: Id
    seatId: Id = Field(validation_alias="seat_id")
    price: Money
    reservationId: Id | None = Field(validation_alias="reservation_id", description="null for a waitlist item")
    seatNumber: str | None = Field(validation_alias="seat_number")
    section: str | None


class OrderOut(Answer):
    id: Id
    userId: str | None = Field(description="the signed-in owner, or the anonymous id echoed to its owner only")
    guestToken: str | None = Field(description="echoed to the guest who sent it only")
    totalAmount: Money
    state: State
    createdAt: Timestamp
    paidAt: Timestamp | None
    items: list[OrderItemOut]


class OrderDetailsOut(OrderOut):
    """The order with what the platform's Fulfillment service reads."""

    customerEmail: str = Field(description='never null: "" when unknown')
    orderId: Id
    eventId: Id | None = Field(description="the concert, when truly known")
    eventName: str | None
    seatNumber: str = Field(description="never null: the first seat's number, else its seat id")
    price: Money
    currency: str


class OrdersPage(Answer):
    items: list[OrderOut]
    nextCursor: str | None = Field(description="pass it back as `cursor` for the next page; null on the last")


class WaitlistPlaced(Answer):
    orderId: Id


class Health(Answer):
    status: Literal["Healthy", "Unhealthy"]
    service: Literal["Ordering"]
    checks: dict[str, str] | None = None


def build_answers() -> None:
    """Build every shape's validator and serializer now, not at its first answer (SnapStart's
    priming: an environment restored from the snapshot then builds none)."""
    shapes = Answer.__subclasses__()
    while shapes:
        shape = shapes.pop()
        shape.model_rebuild()
        shapes.extend(shape.__subclasses__())


def json_response(status: int, answer: Answer, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=answer.text(), headers=headers)


def order_out(order: Order, caller: Caller) -> OrderOut:
    """The order as the contract shows it."""
    return OrderOut(**_order_fields(order, caller))


def order_details_out(order: Order, caller: Caller, currency: str) -> OrderDetailsOut:
    """GET /orders/{orderId}: the order, plus what the platform's Fulfillment service reads
    (case-insensitively). It keeps `customerEmail` and `seatNumber` in NOT NULL columns, so
    neither is ever null: a null would mean no ticket and an order stuck at paid."""
    first = order.items[0] if order.items else None
    return OrderDetailsOut(
        **_order_fields(order, caller),
        customerEmail=order.customer_email or "",
        orderId=order.id,
        eventId=first.concert_event_id if first else None,
        eventName=None,
        seatNumber=(first.seat_number or str(first.seat_id)) if first else "",
        price=order.total_amount,
        currency=currency,
    )


def _order_fields(order: Order, caller: Caller) -> dict[str, Any]:
    """OrderOut's fields. Bearer secrets (a guest token, an anonymous customer id) are echoed only
    to the caller who sent them: the service stores their hash."""
    owner = caller.owns(order)
    return {
        "id": order.id,
        "userId": order.user_id or (caller.anonymous_id if owner else None),
        "guestToken": caller.guest_token if owner else None,
        "totalAmount": order.total_amount,
        "state": order.state,
        "createdAt": order.created_at,
        "paidAt": order.paid_at,
        "items": order.items,
    }

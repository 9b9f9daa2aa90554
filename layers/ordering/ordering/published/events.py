"""The events the service publishes: one per state change of an order, keyed by its id.

The relay serialises these models, and asyncapi.yaml's schemas are generated from them, so
the document and the wire cannot disagree. They carry no bearer secret: not the guest token,
not an anonymous customer id, only whose kind the owner is (and a signed-in user's id).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from ordering import jsonio

# written as a JSON number with two places (50.00), exact (see jsonio.py)
Money = Annotated[Decimal, WithJsonSchema({"type": "number", "multipleOf": 0.01, "examples": [50.0]})]
State = Literal["pending", "paid", "fulfilled", "cancelled"]


class _Payload(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, json_schema_serialization_defaults_required=True
    )


class OrderEvent(_Payload):
    event_id: UUID = Field(description="The same on every delivery of this event: a consumer drops repeats by it")
    occurred_at: datetime = Field(description="When the change committed, ISO-8601 UTC")
    order_id: UUID
    state: State = Field(description="The order's state after the change")
    total_amount: Money
    version: int = Field(ge=1, description="1, 2, … per order, one per event: a gap is an event not yet seen")


class CheckedOutItem(_Payload):
    seat_id: UUID
    reservation_id: UUID | None = Field(description="null for a waitlist order, which has no reservation")
    price: Money
    seat_number: str | None
    section: str | None


class OrderCheckedOut(OrderEvent):
    """draft → pending (or a waitlist order placed): ready for payment."""

    event_type: Literal["order-checked-out"] = "order-checked-out"
    items: list[CheckedOutItem]
    currency: str = Field(description="ISO 4217, of every amount of the order")
    owner: Literal["user", "guest", "anonymous"] = Field(
        description="Who owns the order: a signed-in user, a guest (or the Waitlist's customer), an anonymous browser"
    )
    user_id: str | None = Field(description="The signed-in user's id; null for the other owners")


class OrderPaid(OrderEvent):
    """Its payment is recorded: pending → paid, or on an order a ticket fulfilled first."""

    event_type: Literal["order-paid"] = "order-paid"


class OrderFulfilled(OrderEvent):
    """Its ticket is issued."""

    event_type: Literal["order-fulfilled"] = "order-fulfilled"


class OrderCancelled(OrderEvent):
    event_type: Literal["order-cancelled"] = "order-cancelled"
    reason: Literal["customer", "service", "payment-failed", "reservation-expired"]


PublishedEvent = OrderCheckedOut | OrderPaid | OrderFulfilled | OrderCancelled
MODELS: dict[str, type[OrderEvent]] = {
    "order-checked-out": OrderCheckedOut,
    "order-paid": OrderPaid,
    "order-fulfilled": OrderFulfilled,
    "order-cancelled": OrderCancelled,
}


def serialised(event: OrderEvent) -> bytes:
    """The event as it goes on the wire: camelCase JSON, money as exact numbers."""
    return jsonio.dumps(event.model_dump(mode="python", by_alias=True)).encode()

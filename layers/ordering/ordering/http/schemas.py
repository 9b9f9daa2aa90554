"""The shapes of the API's answers, for the OpenAPI document (openapi.json) only: the handlers
write their bodies themselves (http/responses.py). Schemas are built when the document is, never at a
cold start (`defer_build`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Money = float  # a JSON number with two decimal places (50.00), exact on the wire


class _Document(BaseModel):
    model_config = ConfigDict(defer_build=True)


class ErrorBody(_Document):
    error: str = Field(description="The contract's message, to the letter (docs/contract.md)")


class OrderItemOut(_Document):
    id: UUID
    seatId: UUID
    price: Money
    reservationId: UUID | None = Field(description="null for a waitlist item")
    seatNumber: str | None
    section: str | None


class OrderOut(_Document):
    id: UUID
    userId: str | None = Field(description="the signed-in owner, or the anonymous id echoed to its owner only")
    guestToken: str | None = Field(description="echoed to the guest who sent it only")
    totalAmount: Money
    state: Literal["draft", "pending", "paid", "fulfilled", "cancelled"]
    createdAt: datetime
    paidAt: datetime | None
    items: list[OrderItemOut]


class OrderDetailsOut(OrderOut):
    """The order with what the platform's Fulfillment service reads."""

    customerEmail: str = Field(description='never null: "" when unknown')
    orderId: UUID
    eventId: UUID | None = Field(description="the concert, when truly known")
    eventName: str | None
    seatNumber: str = Field(description="never null: the first seat's number, else its seat id")
    price: Money
    currency: str


class OrdersPage(_Document):
    items: list[OrderOut]
    nextCursor: str | None = Field(description="pass it back as `cursor` for the next page; null on the last")


class WaitlistPlaced(_Document):
    orderId: UUID


class Health(_Document):
    status: Literal["Healthy", "Unhealthy"]
    service: Literal["Ordering"]
    checks: dict[str, str] | None = None

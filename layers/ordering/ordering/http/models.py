"""Request bodies as the contract defines them (camelCase, as on the wire)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Strict

# Bodies are parsed with every number as Decimal (jsonio.loads), so strict Decimal accepts
# JSON numbers and refuses strings; strict str refuses numbers for ids and tokens.
Money = Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12)]
UserId = Annotated[str | None, Strict(), Field(default=None, max_length=128)]
# A guest token is a bearer credential: kept out of repr, which Powertools logs at DEBUG.
GuestToken = Annotated[str | None, Strict(), Field(default=None, max_length=256, repr=False)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AddToCartRequest(_Body):
    reservationId: UUID | None = None
    seatId: UUID
    price: Money
    userId: UserId = None
    guestToken: GuestToken = None


class CheckoutRequest(_Body):
    orderId: UUID
    userId: UserId = None
    guestToken: GuestToken = None

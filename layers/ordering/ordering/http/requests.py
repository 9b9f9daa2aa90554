"""Request bodies as the contract defines them (camelCase, as on the wire)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from ordering.jsonio import nul_field

# Bodies are parsed with every number as Decimal (jsonio.loads), so strict Decimal accepts
# JSON numbers and refuses strings; strict str refuses numbers for ids and tokens.
Money = Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12)]
# A guest token is a bearer credential, and so is a userId sent without a token (an anonymous
# customer id): both kept out of repr, which Powertools logs at DEBUG.
UserId = Annotated[str | None, Strict(), Field(default=None, max_length=128, repr=False)]
GuestToken = Annotated[str | None, Strict(), Field(default=None, max_length=256, repr=False)]

# The error type of a string holding NUL; its context names the field (validation_messages.py says it).
NUL_ERROR = "string_nul"


class Body(BaseModel):
    """A request body: unknown fields are ignored, but no string of it, known or not, holds NUL."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, document: Any) -> Any:
        field = nul_field(document)
        if field is not None:
            raise PydanticCustomError(NUL_ERROR, "Field {field} must not contain NUL characters", {"field": field})
        return document


class AddToCartRequest(Body):
    reservationId: UUID | None = None
    seatId: UUID
    price: Money
    userId: UserId = None
    guestToken: GuestToken = None


class CheckoutRequest(Body):
    orderId: UUID
    userId: UserId = None
    guestToken: GuestToken = None

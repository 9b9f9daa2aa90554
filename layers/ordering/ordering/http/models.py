"""Request bodies as the contract defines them (camelCase, as on the wire)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

# Bodies are parsed with every number as Decimal (jsonio.loads), so strict Decimal accepts
# JSON numbers and refuses strings; strict str refuses numbers for ids and tokens.
Money = Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12)]
# A guest token is a bearer credential, and so is a userId sent without a token (an anonymous
# customer id): both kept out of repr, which Powertools logs at DEBUG.
UserId = Annotated[str | None, Strict(), Field(default=None, max_length=128, repr=False)]
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


def _email(value: str) -> str:
    """An email address, in lower case: the Waitlist service's retry of the same customer is
    the same owner whatever the case it writes."""
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError("email", "must be an email address")
    return value.lower()


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# The Waitlist service sends the customer's email as the guest token: a bearer credential
# (the order's owner) and personal data, kept out of repr like any guest token.
WaitlistEmail = Annotated[str, Strict(), Field(max_length=254, repr=False), AfterValidator(_email)]


class WaitlistOrderRequest(_Body):
    seatId: UUID
    # the Waitlist service sends 0 today: a waitlist item may be free, never negative
    price: Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12, decimal_places=2, ge=0)]
    guestToken: WaitlistEmail
    concertEventId: UUID | None = None

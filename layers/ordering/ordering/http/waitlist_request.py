"""The Waitlist service's body. Apart from the other bodies because email-validator, which
checks its address, costs every function that imports it ~18 ms of cold start; only the
waitlist function does."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, Strict
from pydantic_core import PydanticCustomError

from ordering.http.requests import Body


def _address(value: str) -> str:
    """An email address by email-validator's rules (no quoting, no control characters, a domain
    with a dot; no DNS lookup), kept as the customer wrote it, in lower case: the owner of the
    order, which the customer names on the public API as they know it (never as a library
    normalised it), and the Waitlist service's retry of them whatever the case it writes."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise PydanticCustomError("email", "must be an email address") from None
    return value.lower()


# The customer's email, which the Waitlist service sends as the guest token: personal data, kept
# out of repr like any guest token.
WaitlistEmail = Annotated[
    str, Strict(), Field(max_length=254, repr=False, json_schema_extra={"format": "email"}), AfterValidator(_address)
]


class WaitlistOrderRequest(Body):
    seatId: UUID
    # the Waitlist service sends 0 today: a waitlist item may be free, never negative
    price: Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12, decimal_places=2, ge=0)]
    guestToken: WaitlistEmail
    concertEventId: UUID | None = None

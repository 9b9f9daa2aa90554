"""The Waitlist service's body. Apart from the other bodies because email-validator, which
checks its address, costs every function that imports it ~18 ms of cold start; only the
waitlist function does."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, EmailStr, Field, Strict

from ordering.http.models import Body


def _lower_case(address: str) -> str:
    """The Waitlist service's retry of the same customer is the same owner whatever the case it
    writes: the address is kept, hashed and compared in lower case."""
    return address.lower()


# The customer's email, which the Waitlist service sends as the guest token: an address by
# email-validator's rules (no quoting, no control characters, a domain with a dot), and
# personal data, kept out of repr like any guest token.
WaitlistEmail = Annotated[EmailStr, Strict(), Field(max_length=254, repr=False), AfterValidator(_lower_case)]


class WaitlistOrderRequest(Body):
    seatId: UUID
    # the Waitlist service sends 0 today: a waitlist item may be free, never negative
    price: Annotated[Decimal, Strict(), Field(allow_inf_nan=False, max_digits=12, decimal_places=2, ge=0)]
    guestToken: WaitlistEmail
    concertEventId: UUID | None = None

"""POST /orders/waitlist: the Waitlist service places an order for the seat it allotted."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ordering.config import settings
from ordering.domain import errors
from ordering.domain.errors import ServiceUnavailable
from ordering.domain.identity import Caller
from ordering.store import orders
from ordering.store.db import session
from ordering.usecases.clock import utc_now

_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PlaceWaitlistOrder:
    seat_id: UUID
    price: Decimal
    email: str
    concert_event_id: UUID | None


@dataclass(frozen=True, slots=True)
class Placed:
    order_id: UUID
    created: bool  # False when the same request had placed it already


def place_waitlist_order(command: PlaceWaitlistOrder, *, now: datetime | None = None) -> Placed:
    """A pending order owned by the email as a guest token (hashed), with the email kept as
    `customerEmail`. The Waitlist service retries: the same seat and email again is the order
    placed the first time; the seat in anyone else's live order is a 409."""
    now = now or utc_now()
    verify_prices = settings().verifies_prices
    owner = Caller(guest_token=command.email, email=command.email, internal=True)
    free_if_unknown = False  # a seat sent at 0 takes the Catalog's price, once the copy was asked
    for _ in range(_ATTEMPTS):
        holder: orders.WaitlistHolder | None = None
        with session() as connection:
            try:
                placed = orders.place_waitlist_order(
                    connection,
                    caller=owner,
                    seat_id=command.seat_id,
                    price=command.price,
                    concert_event_id=command.concert_event_id,
                    order_id=uuid.uuid4(),
                    item_id=uuid.uuid4(),
                    now=now,
                    verify_prices=verify_prices,
                    free_if_unknown=free_if_unknown,
                )
                taken = False
            except orders.SeatTaken:
                placed, taken = None, True
                holder = orders.live_holder(connection, command.seat_id)
        if placed is not None:
            return Placed(placed, created=True)
        if not taken:
            # the copy does not know the seat's price: refresh it for the seat (503 when the
            # Catalog cannot tell), then place it at that price, or at the 0 sent if it has none
            from ordering.usecases.refresh_prices import price_after_refresh

            price_after_refresh(command.seat_id)
            free_if_unknown = True
            continue
        if holder is None:
            continue  # the holder was cancelled in between: try again
        assert owner.owner_key is not None
        if holder.origin == "waitlist" and hmac.compare_digest(holder.owner_key, owner.owner_key):
            return Placed(holder.order_id, created=False)
        raise errors.SeatInAnotherOrder()
    raise ServiceUnavailable("waitlist order kept losing races")

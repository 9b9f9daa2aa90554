"""POST /orders/waitlist: the Waitlist service places an order for the seat it allotted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from ordering.config import settings
from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.store import orders
from ordering.usecases.clock import utc_now
from ordering.usecases.placing import attempt_placing


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

    def place(connection: psycopg.Connection[Any], refreshed: bool) -> Placed:
        placement = orders.place_waitlist_order(
            connection,
            caller=owner,
            seat_id=command.seat_id,
            price=command.price,
            concert_event_id=command.concert_event_id,
            order_id=uuid.uuid4(),
            item_id=uuid.uuid4(),
            now=now,
            verify_prices=verify_prices,
            # a seat sent at 0 takes the Catalog's price, and stays free where the Catalog, asked
            # again, does not know it
            free_if_unknown=refreshed,
        )
        if placement.placed is not None:
            return Placed(placement.placed, created=True)
        if placement.holder is None:
            raise errors.SeatPriceUnknown()  # to be learnt from the Catalog first
        if placement.held_by_same:
            return Placed(placement.holder, created=False)
        raise errors.SeatInAnotherOrder()

    return attempt_placing(command.seat_id, place)

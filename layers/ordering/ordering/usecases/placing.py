"""Putting a seat in an order (add-to-cart, a waitlist order): one statement that says which of
its guards refused, attempted until it can say.

Two refusals are not the last word. A seat taken by an order that committed after the
statement's snapshot breaks the unique index rather than showing in the statement's flags: the
next attempt sees who holds it. And the price of a seat the copy of the Catalog's does not hold
yet (a new event, a new seat) is asked of the Catalog, once, before the seat is attempted again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from ordering.domain.errors import SeatPriceUnknown, ServiceUnavailable
from ordering.store.db import session
from ordering.store.orders import SeatTaken

_ATTEMPTS = 3


def attempt_placing[T](seat_id: UUID, place: Callable[[psycopg.Connection[Any], bool], T]) -> T:
    """What `place` returns, or the contract's error it raises for the guard that refused. Its
    second argument says whether the copy of the Catalog's prices was refreshed for the seat."""
    refreshed = False
    for _ in range(_ATTEMPTS):
        try:
            with session() as connection:
                return place(connection, refreshed)
        except SeatTaken:
            continue  # the next attempt sees who took it
        except SeatPriceUnknown:
            if refreshed:
                raise
            # Imported on a miss: urllib3 costs 21 ms of cold import (python -X importtime), which
            # requests that never miss should not pay.
            from ordering.usecases.refresh_prices import price_after_refresh  # noqa: PLC0415

            price_after_refresh(seat_id)  # 503 when the Catalog cannot tell
            refreshed = True
    raise ServiceUnavailable("placing the seat kept losing races")

"""POST /orders/checkout: draft → pending, once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session
from ordering.usecases.clock import utc_now


def checkout(caller: Caller, order_id: UUID, *, now: datetime | None = None) -> Order:
    """One statement moves the order, or says which of checkout's guards refused it."""
    with session() as connection:
        moved = orders.checkout(connection, caller=caller, order_id=order_id, now=now or utc_now())
    return moved.answer()

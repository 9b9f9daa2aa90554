"""PATCH /orders/{orderId}/cancel: draft or pending → cancelled, which frees its seats at once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session
from ordering.usecases.clock import utc_now


def cancel_order(caller: Caller, order_id: UUID, *, now: datetime | None = None) -> Order:
    """The owner cancels on the public API; a platform service cancels any order through the
    internal API (a service-role token on the public API reads any order, but cancels none).
    Cancelling a cancelled order changes nothing. One statement cancels it, or says which guard
    refused."""
    with session() as connection:
        cancelled = orders.cancel(
            connection, caller=caller, order_id=order_id, by_service=caller.internal, now=now or utc_now()
        )
    return cancelled.answer()

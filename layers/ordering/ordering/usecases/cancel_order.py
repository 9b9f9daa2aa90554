"""PATCH /orders/{orderId}/cancel: draft or pending → cancelled, which frees its seats at once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ordering.domain import rules
from ordering.domain.errors import ServiceUnavailable
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session
from ordering.usecases.clock import utc_now

_ATTEMPTS = 3


def cancel_order(caller: Caller, order_id: UUID, *, now: datetime | None = None) -> Order:
    """The owner cancels on the public API; a platform service cancels any order through the
    internal API (a service-role token on the public API reads any order, but cancels none).
    Cancelling a cancelled order changes nothing."""
    now = now or utc_now()
    by_service = caller.internal
    for _ in range(_ATTEMPTS):
        with session() as connection:
            cancelled = orders.cancel(connection, caller=caller, order_id=order_id, by_service=by_service, now=now)
            if cancelled is not None:
                return cancelled
            current = orders.find(connection, order_id)
        if not rules.check_cancel(caller, current, by_service=by_service):
            assert current is not None  # check_cancel raised otherwise
            return current
    raise ServiceUnavailable("cancel kept losing races")

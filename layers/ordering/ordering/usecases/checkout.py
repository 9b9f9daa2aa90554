"""POST /orders/checkout: draft → pending, once."""

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


def checkout(caller: Caller, order_id: UUID, *, now: datetime | None = None) -> Order:
    now = now or utc_now()
    for _ in range(_ATTEMPTS):
        with session() as connection:
            order = orders.checkout(connection, caller=caller, order_id=order_id, now=now)
            if order is not None:
                return order
            current, reservations = orders.order_with_reservations(connection, order_id)
        rules.check_checkout(caller, current, reservations, now)
    raise ServiceUnavailable("checkout kept losing races")

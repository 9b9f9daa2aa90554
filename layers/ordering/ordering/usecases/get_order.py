"""GET /orders/{orderId}: the order, for its owner and for platform services."""

from __future__ import annotations

from uuid import UUID

from ordering.config import settings
from ordering.domain import errors, rules
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session


def get_order(caller: Caller, order_id: UUID) -> Order:
    with session() as connection:
        order = orders.find(connection, order_id)
    if order is None or not rules.can_read(caller, order, settings().service_roles):
        raise errors.OrderNotFound()
    return order

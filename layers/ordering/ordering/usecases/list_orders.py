"""GET /orders: the caller's orders, newest first, a page at a time (keyset pagination)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[Order]
    next_cursor: str | None


def _cursor(order: Order) -> str:
    """Where the next page starts: after this order, by (created_at, id). Opaque to clients."""
    position = f"{order.created_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, UUID]:
    if "\x00" in cursor:
        raise errors.InvalidRequest("Field 'cursor' must not contain NUL characters")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, order_id = text.partition("|")
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment, UUID(order_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.InvalidRequest("Field 'cursor' is invalid") from None


def list_orders(caller: Caller, *, limit: int, cursor: str | None) -> Page:
    """Every order of the caller exactly once across the pages, even while new ones are added
    (they sort before the pages already read)."""
    after = _position(cursor) if cursor else None
    if caller.owner_key is None:
        return Page([], None)
    with session() as connection:
        found = orders.page_of(connection, owner_key=caller.owner_key, after=after, limit=limit + 1)
    page = found[:limit]
    return Page(page, _cursor(page[-1]) if len(found) > limit else None)

"""GET /cart and DELETE /cart/items/{seatId}: the caller's draft order, looked at and changed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ordering.domain import errors
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.store import orders
from ordering.store.db import session
from ordering.usecases.clock import utc_now


def _owner_key(caller: Caller) -> str:
    if caller.owner_key is None:  # the internal API's anonymous service has no cart
        raise errors.CartNotFound()
    return caller.owner_key


def view_cart(caller: Caller) -> Order:
    with session() as connection:
        cart = orders.draft_of(connection, _owner_key(caller))
    if cart is None:
        raise errors.CartNotFound()
    return cart


def remove_from_cart(caller: Caller, seat_id: UUID, *, now: datetime | None = None) -> Order:
    """The cart without the seat, which is free for another customer at once. Removing the last
    seat leaves the cart, empty (total 0.00): the client's cart id stays valid."""
    with session() as connection:
        cart = orders.remove_item(connection, owner_key=_owner_key(caller), seat_id=seat_id, now=now or utc_now())
    if cart is None:
        raise errors.SeatNotInCart()
    return cart

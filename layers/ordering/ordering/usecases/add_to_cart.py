"""POST /cart/add: put a reserved seat in the caller's draft order, creating it if needed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.config import settings
from ordering.domain import rules
from ordering.domain.errors import ServiceUnavailable
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.domain.reservation import Reservation
from ordering.store import orders, reservations
from ordering.store.db import session
from ordering.usecases.clock import utc_now

# A refused write is re-diagnosed; if the diagnosis finds nothing wrong, a concurrent request
# changed the picture in between, and the write is tried again.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class AddToCart:
    caller: Caller
    seat_id: UUID
    price: Decimal
    reservation_id: UUID | None


def _reservation(command: AddToCart, cache: ReservationCache, now: datetime) -> tuple[Reservation | None, bool]:
    """The reservation the item will carry (cache first), and whether another customer holds the seat."""
    caller = command.caller
    if command.reservation_id is not None:
        cached = cache.get(command.reservation_id, command.seat_id)
        if cached is not None:
            return cached, False
        with session() as connection:
            found = reservations.find(connection, command.reservation_id)
        if found is not None:
            cache.put([found], now)
        return found, False
    # only a signed-in caller gets here (rules.require_reservation_id)
    assert caller.customer_hash is not None
    cached = cache.get_for_seat(command.seat_id)
    if cached is not None and cached.is_live(now):
        if caller.owns_customer(cached.customer_hash):
            return cached, False
        return None, True
    with session() as connection:
        mine, held_by_another = reservations.find_live_for_seat(connection, command.seat_id, caller.customer_hash, now)
    if mine is not None:
        cache.put([mine], now)
    return mine, held_by_another


def add_to_cart(command: AddToCart, *, cache: ReservationCache | None = None, now: datetime | None = None) -> Order:
    cache = cache or reservation_cache()
    now = now or utc_now()
    config = settings()
    caller = command.caller
    rules.require_reservation_id(caller, command.reservation_id)
    found, held_by_another = _reservation(command, cache, now)
    reservation = rules.check_reservation(caller, command.seat_id, found, now, seat_held_by_another=held_by_another)
    rules.check_price(command.price, reservation)
    refreshed = False  # the copy of the Catalog's prices, once for this request at most
    for _ in range(_ATTEMPTS):
        with session() as connection:
            try:
                order = orders.add_item(
                    connection,
                    caller=caller,
                    reservation=reservation,
                    price=command.price,
                    max_seats=config.max_seats_per_order,
                    order_id=uuid.uuid4(),
                    item_id=uuid.uuid4(),
                    now=now,
                    verify_prices=config.verifies_prices,
                )
            except orders.SeatTaken:
                order = None
            if order is not None:
                return order
            current = reservations.find(connection, reservation.id)
            holder, cart_size = orders.seat_holder_and_cart_size(connection, caller, command.seat_id)
        if current != reservation:
            cache.evict([reservation])
        reservation = rules.check_reservation(caller, command.seat_id, current, now)
        rules.check_price(command.price, reservation)
        if config.verifies_prices and not reservation.priced_by_inventory:
            catalog_price = reservation.catalog_price
            if catalog_price is None and not refreshed:
                # a seat the copy does not hold yet (a new event, a new seat): ask the Catalog.
                # Imported here: urllib3 costs ~50 ms of cold start, which requests that never miss
                # should not pay.
                from ordering.usecases.refresh_prices import price_after_refresh

                catalog_price, refreshed = price_after_refresh(command.seat_id), True
                rules.check_catalog_price(command.price, catalog_price)
                continue
            rules.check_catalog_price(command.price, catalog_price)
        rules.check_placement(caller, holder, cart_size, config.max_seats_per_order)
    raise ServiceUnavailable("add-to-cart kept losing races")

"""POST /cart/add: put a reserved seat in the caller's draft order, creating it if needed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.config import settings
from ordering.domain import rules
from ordering.domain.identity import Caller
from ordering.domain.order import Order
from ordering.domain.reservation import Reservation
from ordering.store import orders, reservations
from ordering.store.db import session
from ordering.usecases.clock import utc_now
from ordering.usecases.placing import attempt_placing


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
    """The reservation at hand is checked first (a stale copy refused costs no round trip), then
    one statement adds the seat, or says which of its guards refused."""
    cache = cache or reservation_cache()
    now = now or utc_now()
    config = settings()
    caller = command.caller
    rules.require_reservation_id(caller, command.reservation_id)
    found, held_by_another = _reservation(command, cache, now)
    reservation = rules.check_reservation(caller, command.seat_id, found, now, seat_held_by_another=held_by_another)
    rules.check_price(command.price, reservation)

    def add(connection: psycopg.Connection[Any], _refreshed: bool) -> Order:
        added = orders.add_item(
            connection,
            caller=caller,
            reservation=reservation,
            price=command.price,
            max_seats=config.max_seats_per_order,
            max_seats_per_event=config.max_seats_per_event,
            order_id=uuid.uuid4(),
            item_id=uuid.uuid4(),
            now=now,
            verify_prices=config.verifies_prices,
        )
        if added.guards.reservation.refusal() is not None:
            cache.evict([reservation])  # the copy passed the checks its source of truth refused
        return added.answer()

    return attempt_placing(command.seat_id, add)

"""reservation-created: remember reservations durably, then cache the new ones until they expire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.domain.reservation import Reservation
from ordering.store import reservations as store
from ordering.store.db import session
from ordering.store.ledger import Delivery
from ordering.usecases.clock import utc_now


def record_reservations(
    topic: str,
    created: Sequence[tuple[Delivery, Reservation]],
    *,
    cache: ReservationCache | None = None,
    now: datetime | None = None,
) -> list[Reservation]:
    """Store the batch in one statement; a reservation seen before is left as it is."""
    with session() as connection:
        stored = store.record_created(connection, topic, created)
    (cache or reservation_cache()).put(stored, now or utc_now())
    return stored

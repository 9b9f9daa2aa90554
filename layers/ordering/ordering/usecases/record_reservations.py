"""reservation-created: remember reservations durably, then cache the new ones until they expire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from ordering.cache.reservations import ReservationCache, reservation_cache
from ordering.domain.reservation import Reservation
from ordering.store import reservations as store
from ordering.store.db import session
from ordering.usecases.clock import utc_now


def record_reservations(
    created: Sequence[Reservation], *, cache: ReservationCache | None = None, now: datetime | None = None
) -> set[UUID]:
    """Store the batch in one statement; a reservation seen before is left as it is."""
    with session() as connection:
        new_ids = store.record_created(connection, created)
    (cache or reservation_cache()).put([r for r in created if r.id in new_ids], now or utc_now())
    return new_ids

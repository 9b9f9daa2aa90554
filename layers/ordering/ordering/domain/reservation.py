"""Seat reservations made by the Inventory service, as this service knows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

ACTIVE = "active"
EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: UUID
    seat_id: UUID
    # sha256 of Inventory's customerId, which is a user id or a guest token (see identity.secret_hash)
    customer_hash: bytes
    seat_number: str | None
    section: str | None
    base_price: Decimal
    status: str
    created_at: datetime
    expires_at: datetime
    # the concert, known from reservation-expired only (reservation-created's eventId is a
    # message id); not cached
    concert_event_id: UUID | None = None
    # its customer id is a user id the service has seen signed in (store.known_users): claimed
    # by that user's token alone; not cached (a user may sign in after it was cached)
    for_known_user: bool = False

    @property
    def priced_by_inventory(self) -> bool:
        """Inventory sent a price (today it sends 0: the TODO in its code to ask the Catalog)."""
        return self.base_price > 0

    def is_live(self, now: datetime) -> bool:
        return self.status == ACTIVE and self.expires_at > now

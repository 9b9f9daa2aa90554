"""Inventory's topics: reservation-created and reservation-expired."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ordering.consumed.consumer import TopicHandler
from ordering.consumed.schema import parse_model
from ordering.domain.batch import Consumed
from ordering.domain.identity import secret_hash
from ordering.domain.lifecycle import ReservationExpired
from ordering.domain.reservation import EXPIRED, Reservation
from ordering.store.ledger import Delivery
from ordering.usecases.apply_lifecycle import apply_lifecycle
from ordering.usecases.clock import utc_now
from ordering.usecases.record_reservations import record_reservations

CustomerId = Annotated[str, Field(min_length=1, max_length=256)]
# What the service stores of a seat's description, at most (migration 0008 holds the columns to it);
# a longer one is a record that can never be applied.
SEAT_TEXT_MAX = 64
SeatText = Annotated[str | None, Field(max_length=SEAT_TEXT_MAX)]


class ReservationCreatedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eventId: UUID | None = None
    reservationId: UUID
    customerId: CustomerId
    seatId: UUID
    seatNumber: SeatText = None
    section: SeatText = None
    basePrice: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] = Decimal(0)
    createdAt: AwareDatetime
    expiresAt: AwareDatetime
    status: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] = "active"

    def reservation(self) -> Reservation:
        return Reservation(
            id=self.reservationId,
            seat_id=self.seatId,
            customer_hash=secret_hash(self.customerId),
            seat_number=self.seatNumber,
            section=self.section,
            base_price=self.basePrice,
            status=self.status,
            created_at=self.createdAt,
            expires_at=self.expiresAt,
        )


class ReservationExpiredEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    messageId: str | None = None
    reservationId: UUID
    seatId: UUID
    customerId: CustomerId
    concertEventId: str | None = None
    expiredAt: AwareDatetime | None = None  # older producers only

    def stub(self, now: datetime) -> Reservation:
        """The reservation as far as this event knows it, should it arrive before its creation."""
        moment = self.expiredAt or now
        return Reservation(
            id=self.reservationId,
            seat_id=self.seatId,
            customer_hash=secret_hash(self.customerId),
            seat_number=None,
            section=None,
            base_price=Decimal(0),
            status=EXPIRED,
            created_at=moment,
            expires_at=moment,
            concert_event_id=_uuid_or_none(self.concertEventId),
        )


def _uuid_or_none(text: str | None) -> UUID | None:
    """The concert's id when the producer sent one that is a UUID; anything else is unknown."""
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


def _parse_created(value: bytes | None) -> Reservation:
    return parse_model(ReservationCreatedEvent, value).reservation()


def _apply_created(batch: Sequence[tuple[Delivery, Reservation]]) -> Any:
    return record_reservations(batch[0][0].topic, batch)


def _apply_expired(batch: Sequence[tuple[Delivery, ReservationExpiredEvent]]) -> Any:
    now = utc_now()
    consumed = [
        Consumed(str(event.reservationId), ReservationExpired(event.reservationId, event.stub(now)), delivery)
        for delivery, event in batch
    ]
    return apply_lifecycle(batch[0][0].topic, consumed, now=now)


RESERVATION_CREATED: TopicHandler[Reservation] = TopicHandler(parse=_parse_created, apply=_apply_created)
RESERVATION_EXPIRED: TopicHandler[ReservationExpiredEvent] = TopicHandler(
    parse=lambda value: parse_model(ReservationExpiredEvent, value), apply=_apply_expired
)

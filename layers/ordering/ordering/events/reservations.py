"""reservation-created (Inventory): payload schema and how it is applied."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ordering.domain.identity import secret_hash
from ordering.domain.reservation import Reservation
from ordering.events.consumer import TopicHandler, UnprocessableRecord
from ordering.http import jsonio
from ordering.usecases.record_reservations import record_reservations


class ReservationCreated(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eventId: UUID | None = None
    reservationId: UUID
    customerId: Annotated[str, Field(min_length=1, max_length=256)]
    seatId: UUID
    seatNumber: str | None = None
    section: str | None = None
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


def parse_json(value: bytes | None) -> object:
    if value is None:
        raise UnprocessableRecord("record has no value")
    try:
        return jsonio.loads(value)
    except ValueError:
        raise UnprocessableRecord("value is not JSON") from None


def parse_reservation_created(value: bytes | None) -> Reservation:
    try:
        return ReservationCreated.model_validate(parse_json(value)).reservation()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "value"
        raise UnprocessableRecord(f"schema: {field}: {first['type']}") from None


def _apply(created: Sequence[Reservation]) -> None:
    record_reservations(created)


RESERVATION_CREATED: TopicHandler[Reservation] = TopicHandler(parse=parse_reservation_created, apply=_apply)

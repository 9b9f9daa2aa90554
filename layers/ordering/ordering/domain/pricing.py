"""What a seat costs: the Catalog owns prices (a client never names its own). A seat sells at its
own price, or, when the Catalog gives it none, at its event's base price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

CENTS = Decimal("0.01")
# numeric(12, 2), the column every price is kept in
MAX_PRICE = Decimal("9999999999.99")


@dataclass(frozen=True, slots=True)
class SeatPrice:
    seat_id: UUID
    event_id: UUID
    section_code: str | None
    price: Decimal


def _usable(price: Decimal | None) -> bool:
    return price is not None and price.is_finite() and CENTS <= price <= MAX_PRICE and price == price.quantize(CENTS)


def seat_price(
    seat_id: UUID, event_id: UUID, section_code: str | None, price: Decimal | None, base_price: Decimal | None
) -> SeatPrice | None:
    """The seat's price from the Catalog's seat map, or None when neither the seat nor its event
    has a usable one (a positive amount with at most two places)."""
    for candidate in (price, base_price):
        if candidate is not None and _usable(candidate):
            return SeatPrice(seat_id, event_id, section_code, candidate.quantize(CENTS))
    return None

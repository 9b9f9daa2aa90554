"""Fulfillment's topic: ticket-issued (snake_case on the wire; camelCase accepted too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

from ordering.consumed.consumer import TopicHandler
from ordering.consumed.schema import parse_model
from ordering.domain.batch import Consumed
from ordering.domain.lifecycle import TicketIssued
from ordering.store.ledger import Delivery
from ordering.usecases.apply_lifecycle import apply_lifecycle
from ordering.usecases.clock import utc_now


def _either(snake: str, camel: str) -> Any:
    return Field(validation_alias=AliasChoices(snake, camel))


class TicketIssuedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: Annotated[UUID, _either("order_id", "orderId")]
    ticket_id: Annotated[str, Field(min_length=1, max_length=128), _either("ticket_id", "ticketId")]
    customer_email: Annotated[str | None, _either("customer_email", "customerEmail")] = None
    ticket_pdf_url: Annotated[str | None, _either("ticket_pdf_url", "ticketPdfUrl")] = None
    event_name: Annotated[str | None, _either("event_name", "eventName")] = None
    seat_number: Annotated[str | None, _either("seat_number", "seatNumber")] = None
    timestamp: AwareDatetime | None = None

    def issued(self, now: datetime) -> TicketIssued:
        return TicketIssued(self.ticket_id, self.order_id, self.timestamp or now)


def _apply(batch: Sequence[tuple[Delivery, TicketIssuedEvent]]) -> Any:
    now = utc_now()
    consumed = [Consumed(e.ticket_id, e.issued(now), delivery) for delivery, e in batch]
    return apply_lifecycle(batch[0][0].topic, consumed, now=now)


TICKET_ISSUED: TopicHandler[TicketIssuedEvent] = TopicHandler(
    parse=lambda value: parse_model(TicketIssuedEvent, value), apply=_apply
)

"""Payment's topics: payment-succeeded and payment-failed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ordering.consumed.consumer import TopicHandler
from ordering.consumed.schema import parse_model
from ordering.domain.batch import Consumed
from ordering.domain.lifecycle import PaymentFailed, PaymentSucceeded
from ordering.store.ledger import Delivery
from ordering.usecases.apply_lifecycle import apply_lifecycle

PaymentId = Annotated[str, Field(min_length=1, max_length=128)]


class PaymentSucceededEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    paymentId: PaymentId
    orderId: UUID
    customerId: str | None = None
    reservationId: UUID | None = None
    # 0 pays an order whose total is 0 (a free waitlist seat); any other amount must be its total
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: str = "USD"
    paymentMethod: str | None = None
    transactionId: str | None = None
    processedAt: AwareDatetime
    status: Literal["succeeded"] = "succeeded"


class PaymentFailedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    paymentId: PaymentId
    orderId: UUID
    customerId: str | None = None
    reservationId: UUID | None = None
    amount: Decimal | None = None
    currency: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    failureReason: str | None = None
    attemptedAt: AwareDatetime | None = None
    status: Literal["failed"] = "failed"


def _apply_succeeded(batch: Sequence[tuple[Delivery, PaymentSucceededEvent]]) -> Any:
    consumed = [
        Consumed(e.paymentId, PaymentSucceeded(e.paymentId, e.orderId, e.amount, e.processedAt), delivery)
        for delivery, e in batch
    ]
    return apply_lifecycle(batch[0][0].topic, consumed)


def _apply_failed(batch: Sequence[tuple[Delivery, PaymentFailedEvent]]) -> Any:
    consumed = [Consumed(e.paymentId, PaymentFailed(e.paymentId, e.orderId), delivery) for delivery, e in batch]
    return apply_lifecycle(batch[0][0].topic, consumed)


PAYMENT_SUCCEEDED: TopicHandler[PaymentSucceededEvent] = TopicHandler(
    parse=lambda value: parse_model(PaymentSucceededEvent, value), apply=_apply_succeeded
)
PAYMENT_FAILED: TopicHandler[PaymentFailedEvent] = TopicHandler(
    parse=lambda value: parse_model(PaymentFailedEvent, value), apply=_apply_failed
)

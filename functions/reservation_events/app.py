"""MSK consumer of Inventory's topics: reservation-created and reservation-expired."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.consumed.consumer import TopicHandler, consume
from ordering.consumed.msk import BatchResponse
from ordering.consumed.reservations import RESERVATION_CREATED, RESERVATION_EXPIRED
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline

HANDLERS: dict[str, TopicHandler[Any]] = {
    "reservation-created": RESERVATION_CREATED,
    "reservation-expired": RESERVATION_EXPIRED,
}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> BatchResponse:
    with invocation_deadline(context):
        return consume(event, HANDLERS)

"""MSK consumer of Inventory's reservation topics."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.events.consumer import consume
from ordering.events.msk import BatchResponse
from ordering.events.reservations import RESERVATION_CREATED
from ordering.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> BatchResponse:
    return consume(event, {"reservation-created": RESERVATION_CREATED})

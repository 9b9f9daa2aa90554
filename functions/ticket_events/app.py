"""MSK consumer of Fulfillment's topic: ticket-issued."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.consumed.consumer import TopicHandler, consume
from ordering.consumed.msk import BatchResponse
from ordering.consumed.tickets import TICKET_ISSUED
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline

HANDLERS: dict[str, TopicHandler[Any]] = {"ticket-issued": TICKET_ISSUED}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> BatchResponse:
    with invocation_deadline(context):
        return consume(event, HANDLERS)

"""MSK consumer of Payment's topics: payment-succeeded and payment-failed."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.consumed.consumer import TopicHandler, consume
from ordering.consumed.msk import BatchResponse
from ordering.consumed.payments import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline

HANDLERS: dict[str, TopicHandler[Any]] = {"payment-succeeded": PAYMENT_SUCCEEDED, "payment-failed": PAYMENT_FAILED}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> BatchResponse:
    with invocation_deadline(context):
        return consume(event, HANDLERS)

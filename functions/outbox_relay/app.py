"""Scheduled every minute: relays the outbox to Kafka for the minute, then ends (README: "Events
it publishes" says why a minute-long run rather than one per change)."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline, invocation_ends
from ordering.usecases.relay_outbox import relay

# what a run keeps, before its database deadline, to mark the last round's events and answer
MARGIN_S = 1.0


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    with invocation_deadline(context):
        ends = invocation_ends() or time.monotonic() + context.get_remaining_time_in_millis() / 1000
        totals = relay(ends - MARGIN_S)
    logger.info("outbox relayed", extra=totals)
    return totals

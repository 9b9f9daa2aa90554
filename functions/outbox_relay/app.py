"""Scheduled every minute: relays the outbox to Kafka for the minute, then ends (README: "Events
it publishes" says why a minute-long run rather than one per change)."""

import gc

gc.disable()  # until the imports are done: ordering/coldstart.py says why

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.coldstart import imports_done
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline
from ordering.usecases.relay_outbox import relay

# what a run leaves of its time: the round under way, the last metrics, the answer
MARGIN_S = 5.0


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    with invocation_deadline(context):
        until = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_S
        totals = relay(until)
    logger.info("outbox relayed", extra=totals)
    return totals


imports_done()

"""Scheduled: prunes what no one needs any more (the consumed-event ledger past the topics'
retention, old expired reservations and dead letters, abandoned carts), a batch at a time."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.config import settings
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline
from ordering.usecases.prune import prune


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    with invocation_deadline(context):
        # half the invocation's time: the rest is margin, and the next run goes on
        deleted = prune(settings().retention, time_budget_s=context.get_remaining_time_in_millis() / 2000)
    logger.info("pruned", extra={"deleted": deleted})
    metrics.add_metric(name="RowsPruned", unit=MetricUnit.Count, value=sum(deleted.values()))
    return deleted

"""Scheduled: refreshes the copy of the Catalog's seat prices (every event's seat map), so that
add-to-cart reads a seat's price with its reservation. Without CATALOG_URL it does nothing:
prices are not verified then."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.catalog import CatalogUnavailable
from ordering.config import settings
from ordering.observability import logger, metrics
from ordering.store.db import invocation_deadline, invocation_ends
from ordering.usecases.refresh_prices import refresh_all

# what a run keeps, before its database deadline, to write the last seat map and answer
MARGIN_S = 5.0


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not settings().verifies_prices:
        return {"catalog": "not configured"}
    with invocation_deadline(context):
        ends = invocation_ends() or time.monotonic() + context.get_remaining_time_in_millis() / 1000
        try:
            refreshed = refresh_all(ends - MARGIN_S)
        except CatalogUnavailable as exc:
            logger.error("catalog not read; seat prices stay as they were", reason=str(exc))
            metrics.add_metric(name="CatalogRefreshFailures", unit=MetricUnit.Count, value=1)
            return {"catalog": "unavailable"}
    logger.info("seat prices refreshed", extra={"events": refreshed.events, "seats": refreshed.seats})
    metrics.add_metric(name="SeatPricesRefreshed", unit=MetricUnit.Count, value=refreshed.seats)
    if not refreshed.complete:
        metrics.add_metric(name="CatalogRefreshFailures", unit=MetricUnit.Count, value=1)
    return {
        "catalog": "refreshed" if refreshed.complete else "partly refreshed",
        "events": refreshed.events,
        "seats": refreshed.seats,
    }

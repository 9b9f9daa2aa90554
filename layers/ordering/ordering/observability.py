"""One Logger and one Metrics for every function (Tracer is left to Lambda's active tracing:
the X-Ray SDK would double the cold start of every function for spans we do not need)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="ordering")
metrics = Metrics(namespace="Ordering", service="ordering")

# A run with nothing to count (a schedule with no Catalog configured, an empty poll) is normal:
# Powertools' documented way to keep its warning out of every such invocation's log.
warnings.filterwarnings("ignore", "No application metrics to publish*")

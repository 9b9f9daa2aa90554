"""One Logger and one Metrics for every function (Tracer is left to Lambda's active tracing:
the X-Ray SDK would double the cold start of every function for spans we do not need)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="ordering")
metrics = Metrics(namespace="Ordering", service="ordering")

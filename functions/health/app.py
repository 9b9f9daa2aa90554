"""GET /health (the function answers) and GET /health/ready (and its stores answer)."""

from aws_lambda_powertools.event_handler import Response

from ordering.http.documentation import documented
from ordering.http.entry import lambda_handler_for
from ordering.http.resolver import api
from ordering.http.responses import Health, json_response
from ordering.usecases.health import readiness

app = api()


@app.get("/health", summary="The service answers", responses=documented(200, Health, identified=False))
def live() -> Response[str]:
    return json_response(200, Health(status="Healthy", service="Ordering"))


@app.get(
    "/health/ready",
    summary="The service and its stores answer (503 Unhealthy without PostgreSQL)",
    responses=documented(200, Health, identified=False),
)
def ready() -> Response[str]:
    checks = readiness()
    if checks["postgresql"] != "up":
        return json_response(503, Health(status="Unhealthy", service="Ordering", checks=checks))
    return json_response(200, Health(status="Healthy", service="Ordering", checks=checks))


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("GET", "/health", None))

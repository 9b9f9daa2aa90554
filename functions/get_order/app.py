"""GET /orders/{orderId}: the order with what Fulfillment reads, for its owner and for services.

Behind both APIs: on the public one for the owner and service-role tokens, on the internal one
(also as GET /Orders/{orderId}, the path Fulfillment's client writes) for the platform's services.
"""

from uuid import UUID

from aws_lambda_powertools.event_handler import Response

from ordering.config import settings
from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import is_internal, lambda_handler_for
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import OrderDetailsOut, json_response, order_details_out
from ordering.usecases.get_order import get_order

app = api()


@app.get(
    "/orders/<orderId>",
    summary="An order, with what Fulfillment reads (owner, service role, or the internal API)",
    responses=documented(200, OrderDetailsOut, refusal(errors.OrderNotFound)),
)
@app.get(
    "/Orders/<orderId>",
    summary="The same, as the Fulfillment service's client writes the path (internal API)",
    responses=documented(200, OrderDetailsOut, refusal(errors.OrderNotFound)),
)
def read(orderId: UUID) -> Response[str]:
    event = app.current_event
    caller = identify(event.headers, None, None, internal=is_internal(event.raw_event))
    order = get_order(caller, orderId)
    return json_response(200, order_details_out(order, caller, settings().currency))


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("GET", "/orders/not-an-order", None))

"""PATCH /orders/{orderId}/cancel: the owner (public API) or a platform service (internal API)
cancels a draft or pending order, which frees its seats."""

from uuid import UUID

from aws_lambda_powertools.event_handler import Response

from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import is_internal, lambda_handler_for
from ordering.http.idempotency import answer_once
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import OrderOut, json_response, order_out
from ordering.usecases.cancel_order import cancel_order

app = api()


@app.patch(
    "/orders/<orderId>/cancel",
    summary="Cancel a draft or pending order (its owner; any platform service on the internal API)",
    responses=documented(
        200, OrderOut, refusal(errors.OrderNotFound), (409, "Order cannot be cancelled in state '<state>'"), keyed=True
    ),
)
def cancel(orderId: UUID) -> Response[str]:
    event = app.current_event
    caller = identify(event.headers, None, None, internal=is_internal(event.raw_event))
    return answer_once(
        event, caller, app.lambda_context, lambda: json_response(200, order_out(cancel_order(caller, orderId), caller))
    )


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("PATCH", "/orders/not-an-order/cancel", "{}"))

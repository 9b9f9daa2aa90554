"""POST /orders/checkout: move the caller's draft order to pending, ready for payment."""

from aws_lambda_powertools.event_handler import Response

from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import lambda_handler_for
from ordering.http.idempotency import answer_once
from ordering.http.identity import identify
from ordering.http.requests import CheckoutRequest
from ordering.http.resolver import api
from ordering.http.responses import OrderOut, json_response, order_out
from ordering.usecases.checkout import checkout

app = api()


@app.post(
    "/orders/checkout",
    summary="Check out the caller's draft order: draft → pending",
    responses=documented(
        200,
        OrderOut,
        refusal(errors.OrderNotFound),
        refusal(errors.OrderNotDraft),
        refusal(errors.OrderEmpty),
        refusal(errors.ReservationExpired),
        keyed=True,
    ),
)
def check_out(body: CheckoutRequest) -> Response[str]:
    caller = identify(app.current_event.headers, body.userId, body.guestToken)
    return answer_once(
        app.current_event,
        caller,
        app.lambda_context,
        lambda: json_response(200, order_out(checkout(caller, body.orderId), caller)),
    )


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("POST", "/orders/checkout", "{}"))

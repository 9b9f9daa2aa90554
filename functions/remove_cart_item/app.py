"""DELETE /cart/items/{seatId}: take a seat out of the caller's cart; it is free at once."""

from uuid import UUID

from aws_lambda_powertools.event_handler import Response

from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import lambda_handler_for
from ordering.http.idempotency import answer_once
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import OrderOut, json_response, order_out
from ordering.usecases.cart import remove_from_cart

app = api()


@app.delete(
    "/cart/items/<seatId>",
    summary="Take a seat out of the caller's cart; it is free for another customer at once",
    responses=documented(200, OrderOut, refusal(errors.SeatNotInCart), keyed=True),
)
def remove(seatId: UUID) -> Response[str]:
    caller = identify(app.current_event.headers, None, None)
    return answer_once(
        app.current_event,
        caller,
        app.lambda_context,
        lambda: json_response(200, order_out(remove_from_cart(caller, seatId), caller)),
    )


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("DELETE", "/cart/items/not-a-seat", None))

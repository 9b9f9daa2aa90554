"""GET /cart: the caller's cart (their draft order), or 404 Cart not found."""

from aws_lambda_powertools.event_handler import Response

from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import lambda_handler_for
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import OrderOut, json_response, order_out
from ordering.usecases.cart import view_cart

app = api()


@app.get(
    "/cart",
    summary="The caller's cart (their draft order)",
    responses=documented(200, OrderOut, refusal(errors.CartNotFound)),
)
def read() -> Response[str]:
    caller = identify(app.current_event.headers, None, None)
    return json_response(200, order_out(view_cart(caller), caller))


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("GET", "/cart", None))

"""POST /cart/add: add a reserved seat to the caller's cart (their draft order)."""

from aws_lambda_powertools.event_handler import Response

from ordering.domain import errors
from ordering.http.documentation import documented, refusal
from ordering.http.entry import lambda_handler_for
from ordering.http.idempotency import answer_once
from ordering.http.identity import identify
from ordering.http.requests import AddToCartRequest
from ordering.http.resolver import api
from ordering.http.responses import OrderOut, json_response, order_out
from ordering.usecases.add_to_cart import AddToCart, add_to_cart

app = api()


@app.post(
    "/cart/add",
    summary="Add a reserved seat to the caller's cart",
    responses=documented(
        200,
        OrderOut,
        refusal(errors.ReservationIdRequired),
        refusal(errors.ReservationNotFound),
        refusal(errors.ReservationForDifferentSeat),
        refusal(errors.ReservationOfAnotherCustomer),
        refusal(errors.ReservationExpired),
        (400, "Reservation is <status>"),
        refusal(errors.SeatReservedByAnother),
        refusal(errors.PriceNotPositive),
        refusal(errors.PriceMismatch),
        refusal(errors.SeatPriceUnknown),
        refusal(errors.SeatAlreadyInCart),
        refusal(errors.SeatInAnotherOrder),
        (409, "Customer cannot hold more than <N> seats of this event"),
        (400, "Order cannot hold more than <N> seats"),
        keyed=True,
    ),
)
def add(body: AddToCartRequest) -> Response[str]:
    caller = identify(app.current_event.headers, body.userId, body.guestToken)
    command = AddToCart(caller, body.seatId, body.price, body.reservationId)
    return answer_once(
        app.current_event,
        caller,
        app.lambda_context,
        lambda: json_response(200, order_out(add_to_cart(command), caller)),
    )


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("POST", "/cart/add", "{}"))

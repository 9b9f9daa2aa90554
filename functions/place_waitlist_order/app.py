"""POST /orders/waitlist (internal API only): the Waitlist service places a pending order for
the seat it allotted to a customer on its list."""

from aws_lambda_powertools.event_handler import Response

from ordering.config import settings
from ordering.domain import errors
from ordering.domain.rules import require_platform_service
from ordering.http.documentation import documented, refusal
from ordering.http.entry import is_internal, lambda_handler_for
from ordering.http.idempotency import answer_once
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import WaitlistPlaced, json_response
from ordering.http.waitlist_request import WaitlistOrderRequest
from ordering.usecases.place_waitlist_order import PlaceWaitlistOrder, place_waitlist_order

app = api()


@app.post(
    "/orders/waitlist",
    summary="Place a pending order for a seat the Waitlist service allotted (internal API)",
    responses=documented(
        201,
        WaitlistPlaced,
        refusal(errors.SeatInAnotherOrder),
        description="Placed (or, with Idempotent-Replayed: true, placed by the same request before)",
        keyed=True,
    ),
)
def place(body: WaitlistOrderRequest) -> Response[str]:
    event = app.current_event
    # the body's guestToken names the order's owner, not the caller: the headers say who calls
    caller = identify(event.headers, None, None, internal=is_internal(event.raw_event))
    require_platform_service(caller, settings().service_roles)
    command = PlaceWaitlistOrder(body.seatId, body.price, body.guestToken, body.concertEventId)

    def place_once() -> Response[str]:
        placed = place_waitlist_order(command)
        # a retry (same seat and email, with or without a key) gets the order placed first, and says so
        replayed = None if placed.created else {"Idempotent-Replayed": "true"}
        return json_response(201, WaitlistPlaced(orderId=placed.order_id), replayed)

    return answer_once(event, caller, app.lambda_context, place_once)


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("POST", "/orders/waitlist", "{}"))

"""GET /orders/{orderId}: the order with the customer's email, for its owner and for services."""

import gc

gc.disable()  # until the imports are done: ordering/coldstart.py says why

from uuid import UUID

from aws_lambda_powertools.event_handler import Response

from ordering.coldstart import imports_done
from ordering.http.api import api, json_response, lambda_handler_for, order_body
from ordering.http.identity import identify
from ordering.usecases.get_order import get_order

app = api()


@app.get("/orders/<orderId>")
def read(orderId: UUID) -> Response[str]:
    caller = identify(app.current_event.headers, None, None)
    order = get_order(caller, orderId)
    return json_response(200, order_body(order, caller, with_email=True))


lambda_handler = lambda_handler_for(app)

imports_done()

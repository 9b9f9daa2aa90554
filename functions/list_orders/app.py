"""GET /orders?limit=&cursor=: the caller's orders, newest first, a page at a time."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ordering.http.documentation import documented
from ordering.http.entry import lambda_handler_for
from ordering.http.identity import identify
from ordering.http.resolver import api
from ordering.http.responses import OrdersPage, json_response, order_out
from ordering.usecases.list_orders import list_orders

app = api()


@app.get(
    "/orders",
    summary="The caller's orders, newest first, a page at a time",
    responses=documented(200, OrdersPage, (400, "Field 'cursor' is invalid")),
)
def history(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response[str]:
    caller = identify(app.current_event.headers, None, None)
    page = list_orders(caller, limit=limit, cursor=cursor)
    items = [order_out(order, caller) for order in page.orders]
    return json_response(200, OrdersPage(items=items, nextCursor=page.next_cursor))


# SnapStart primes the function with a request it refuses before any I/O
lambda_handler = lambda_handler_for(app, primed_by=("GET", "/orders", None))

"""Each hot function's duration per invocation, and the part of it spent in PostgreSQL and Redis.

The functions are invoked in-process with API Gateway and MSK events (as bench/api.py does),
warm, one invocation at a time, with bench/store_time.py's hooks on the client libraries.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.consumers import _pending_orders
from bench.setup import publish_reservations
from bench.store_time import current, measured
from ordering_local.events import Message, api_gateway_event, message_key, msk_event
from ordering_local.invoke import invoke
from ordering_local.template import Function, load
from tests.support import ROOT, payment_succeeded, reservation_created, token

Check = Callable[[Any], None]


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * share) - 1))]


def _summary(samples: dict[str, list[float]], per: int = 1) -> dict[str, float]:
    """p50 and p99 of each series, in ms (divided by `per`: per record of a batch)."""
    figures: dict[str, float] = {"invocations": len(samples["wall_ms"])}
    for series, values in samples.items():
        if series == "postgres_calls":
            continue
        ordered = sorted(value / per for value in values)
        name = series.removesuffix("_ms")
        figures[f"{name}_p50_ms"] = statistics.median(ordered)
        figures[f"{name}_p99_ms"] = _percentile(ordered, 0.99)
    figures["postgres_calls"] = samples["postgres_calls"][0] if samples.get("postgres_calls") else 0
    return figures


def _timed(function: Function, events: list[Any], check: Check) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {
        key: [] for key in ("wall_ms", "cpu_ms", "postgres_ms", "postgres_wait_ms", "redis_ms", "other_ms")
    }
    calls: list[float] = []
    # the harness's prepared events frozen out of garbage collection (bench/api.py says why)
    gc.collect()
    gc.freeze()
    try:
        for event in events:
            current.reset()
            started, started_cpu = time.perf_counter(), time.process_time()
            response = invoke(function, event)
            wall = (time.perf_counter() - started) * 1000
            cpu = (time.process_time() - started_cpu) * 1000
            check(response)
            postgres, redis_ms = current.postgres_s * 1000, current.redis_s * 1000
            samples["wall_ms"].append(wall)
            samples["cpu_ms"].append(cpu)
            samples["postgres_ms"].append(postgres)
            # the time PostgreSQL (and the way to it) kept the function waiting, its own CPU aside
            samples["postgres_wait_ms"].append(postgres - current.postgres_cpu_s * 1000)
            samples["redis_ms"].append(redis_ms)
            samples["other_ms"].append(wall - postgres - redis_ms)
            calls.append(current.postgres_calls)
    finally:
        gc.unfreeze()
    figures: dict[str, list[float]] = dict(samples)
    figures["postgres_calls"] = [statistics.median(calls)]
    return figures


def _ok(response: Any) -> None:
    if response["statusCode"] != 200:
        raise RuntimeError(f"benchmark request failed: {response['body']}")


def _no_failures(response: Any) -> None:
    if response != {"batchItemFailures": []}:
        raise RuntimeError(f"benchmark batch failed: {response}")


def _post(path: str, body: dict[str, Any], bearer: str, resource: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    return api_gateway_event("POST", path, resource=resource, headers=headers, body=json.dumps(body))


def _order_event(method: str, order_id: str, bearer: str, suffix: str = "") -> dict[str, Any]:
    return api_gateway_event(
        method,
        f"/orders/{order_id}{suffix}",
        resource="/orders/{orderId}" + suffix,
        path_parameters={"orderId": order_id},
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        body="{}" if method == "PATCH" else None,
    )


def api(calls: int, tag: str, seats_per_customer: int) -> dict[str, dict[str, float]]:
    """The hot API operations, `calls` customers each: add-to-cart (`seats_per_customer` seats
    each, the first making the cart), the cart, checkout, get-order, cancel."""
    functions = {function.name: function for function in load(ROOT)}
    customers = [f"capacity-{tag}-{n}" for n in range(calls + 1)]
    tokens = [token(customer) for customer in customers]
    seats = [publish_reservations(customers) for _ in range(seats_per_customer)]
    orders: list[str] = []

    def add_events(reservations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            _post("/cart/add", {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 50.00}, t)
            for r, t in zip(reservations, tokens, strict=True)
        ]

    def keep_order(response: Any) -> None:
        _ok(response)
        orders.append(json.loads(response["body"])["id"])

    # the last customer warms every function once, unmeasured (cold starts are bench/startup.py's)
    warm_token, warm_seat = tokens[-1], seats[0][-1]
    warm_add = {"reservationId": warm_seat["reservationId"], "seatId": warm_seat["seatId"], "price": 50.00}
    _timed(functions["AddToCartFunction"], [_post("/cart/add", warm_add, warm_token)], keep_order)
    warm_order = orders.pop()
    _timed(functions["GetCartFunction"], [api_gateway_event("GET", "/cart", headers=_bearer(warm_token))], _ok)
    _timed(functions["CheckoutFunction"], [_post("/orders/checkout", {"orderId": warm_order}, warm_token)], _ok)
    _timed(functions["GetOrderFunction"], [_order_event("GET", warm_order, warm_token)], _ok)
    _timed(functions["CancelOrderFunction"], [_order_event("PATCH", warm_order, warm_token, "/cancel")], _ok)
    customers, tokens = customers[:-1], tokens[:-1]
    seats = [reservations[:-1] for reservations in seats]

    add = _timed(functions["AddToCartFunction"], add_events(seats[0]), keep_order)
    for reservations in seats[1:]:  # the cart's further seats: the same statement, updating the cart
        more = _timed(functions["AddToCartFunction"], add_events(reservations), _ok)
        for series, values in more.items():
            if series != "postgres_calls":
                add[series] += values
    results = {"POST /cart/add": _summary(add)}
    get_cart = [api_gateway_event("GET", "/cart", headers=_bearer(t)) for t in tokens]
    results["GET /cart"] = _summary(_timed(functions["GetCartFunction"], get_cart, _ok))
    checkouts = [_post("/orders/checkout", {"orderId": o}, t) for o, t in zip(orders, tokens, strict=True)]
    results["POST /orders/checkout"] = _summary(_timed(functions["CheckoutFunction"], checkouts, _ok))
    reads = [_order_event("GET", o, t) for o, t in zip(orders, tokens, strict=True)]
    results["GET /orders/{orderId}"] = _summary(_timed(functions["GetOrderFunction"], reads, _ok))
    cancels = [_order_event("PATCH", o, t, "/cancel") for o, t in zip(orders, tokens, strict=True)]
    results["PATCH /orders/{orderId}/cancel"] = _summary(_timed(functions["CancelOrderFunction"], cancels, _ok))
    return results


def _bearer(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


def consumers(database_url: str, batch: int, batches: int) -> dict[str, dict[str, Any]]:
    """reservation-created and payment-succeeded, `batches` batches of `batch` records each
    (fresh reservations; payments of fresh pending orders), per batch and per record."""
    functions = load(ROOT)

    def consumer(topic: str) -> Function:
        return next(function for function in functions if topic in function.topics)

    def event(topic: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        return msk_event(
            Message(topic, p, key=message_key(topic, p), offset=offset) for offset, p in enumerate(payloads)
        )

    orders = _pending_orders(database_url, batch * batches + 1)
    _timed(consumer("reservation-created"), [event("reservation-created", [reservation_created()])], _no_failures)
    _timed(consumer("payment-succeeded"), [event("payment-succeeded", [payment_succeeded(orders.pop())])], _no_failures)
    created = [event("reservation-created", [reservation_created() for _ in range(batch)]) for _ in range(batches)]
    paid = [
        event("payment-succeeded", [payment_succeeded(order) for order in orders[n * batch : (n + 1) * batch]])
        for n in range(batches)
    ]
    results: dict[str, dict[str, Any]] = {}
    for topic, events in (("reservation-created", created), ("payment-succeeded", paid)):
        samples = _timed(consumer(topic), events, _no_failures)
        results[topic] = {"records_per_batch": batch, "per_batch": _summary(samples), "per_record": {}}
        results[topic]["per_record"] = {
            key: value for key, value in _summary(samples, per=batch).items() if key.endswith("_ms")
        }
    return results


def run(database_url: str, *, calls: int, batch: int, batches: int, tag: str, seats: int) -> dict[str, Any]:
    """The API operations (`calls` customers, `seats` each) and the consumers (`batches` of `batch`)."""
    with measured():
        return {"api": api(calls, tag, seats), "consumers": consumers(database_url, batch, batches)}


__all__ = ["run"]

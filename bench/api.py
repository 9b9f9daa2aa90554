"""Warm API latency: each endpoint invoked in-process with API Gateway events, many times."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.setup import keep_seat_prices, publish_reservations, verified_prices
from ordering_local.events import Message, api_gateway_event, msk_event
from ordering_local.invoke import invoke
from ordering_local.template import Function, load
from tests.support import ROOT, reservation_created, token


@dataclass
class Timing:
    wall_ms: list[float]
    cpu_ms: list[float]

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.wall_ms)
        return {
            "calls": len(ordered),
            "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[int(len(ordered) * 0.99) - 1],
            "cpu_p50_ms": statistics.median(self.cpu_ms),
        }


def _functions() -> dict[str, Function]:
    return {function.name: function for function in load(ROOT)}


def _timed(function: Function, events: list[dict[str, Any]], check: Callable[[dict[str, Any]], None]) -> Timing:
    # The harness's own objects (a thousand prepared events) would make every garbage
    # collection slower than in a Lambda environment, which holds one event at a time.
    gc.collect()
    gc.freeze()
    wall, cpu = [], []
    for event in events:
        started, started_cpu = time.perf_counter(), time.process_time()
        response = invoke(function, event)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        check(response)
    gc.unfreeze()
    return Timing(wall, cpu)


def _ok(response: dict[str, Any]) -> None:
    if response["statusCode"] != 200:
        raise RuntimeError(f"benchmark request failed: {response['body']}")


def _post(path: str, body: dict[str, Any], bearer: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    return api_gateway_event("POST", path, headers=headers, body=json.dumps(body))


def _get(path: str, bearer: str, query: str = "") -> dict[str, Any]:
    return api_gateway_event("GET", path, headers={"Authorization": f"Bearer {bearer}"}, query=query)


def run(calls: int, tag: str, counters: Callable[[], dict[str, int]] | None = None) -> dict[str, dict[str, float]]:
    """Every customer endpoint `calls` times, for `calls` distinct customers.
    With `counters`, also the round trips each request made to each store."""
    functions = _functions()
    customers = [f"bench-{tag}-{n}" for n in range(calls)]
    tokens = [token(customer) for customer in customers]
    reservations = publish_reservations(customers)
    consumer = next(f for f in functions.values() if "reservation-created" in f.topics)
    # warm every function once (its cold start is measured elsewhere)
    warm = reservation_created(customer=f"bench-{tag}-warm")
    invoke(consumer, msk_event([Message("reservation-created", warm, offset=calls + 1)]))
    warm_token = token(warm["customerId"])
    warm_order = json.loads(
        invoke(
            functions["AddToCartFunction"],
            _post(
                "/cart/add", {"reservationId": warm["reservationId"], "seatId": warm["seatId"], "price": 50}, warm_token
            ),
        )["body"]
    )
    invoke(functions["CheckoutFunction"], _post("/orders/checkout", {"orderId": warm_order["id"]}, warm_token))

    results: dict[str, dict[str, float]] = {}
    orders: list[str] = []

    def measure(
        name: str, function: str, events: list[dict[str, Any]], check: Callable[[dict[str, Any]], None]
    ) -> None:
        before = counters() if counters else {}
        timing = _timed(functions[function], events, check)
        results[name] = timing.summary()
        if counters:
            after = counters()
            for store, count in after.items():
                results[name][f"{store}_round_trips"] = (count - before[store]) / len(events)

    def keep_order(response: dict[str, Any]) -> None:
        _ok(response)
        orders.append(json.loads(response["body"])["id"])

    add_events = [
        _post("/cart/add", {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 50.00}, t)
        for r, t in zip(reservations, tokens, strict=True)
    ]
    measure("POST /cart/add", "AddToCartFunction", add_events, keep_order)
    measure("GET /cart", "GetCartFunction", [_get("/cart", t) for t in tokens], _ok)
    checkout_events = [_post("/orders/checkout", {"orderId": o}, t) for o, t in zip(orders, tokens, strict=True)]
    measure("POST /orders/checkout", "CheckoutFunction", checkout_events, _ok)
    get_events = [
        api_gateway_event(
            "GET", f"/orders/{o}", resource="/orders/{orderId}", path_parameters={"orderId": o},
            headers={"Authorization": f"Bearer {t}"},
        )
        for o, t in zip(orders, tokens, strict=True)
    ]  # fmt: skip
    measure("GET /orders/{orderId}", "GetOrderFunction", get_events, _ok)
    measure("GET /orders", "ListOrdersFunction", [_get("/orders", t, query="limit=20") for t in tokens], _ok)
    # a second seat for each customer (setup), then taken out of their new cart
    second = publish_reservations(customers)
    for r, t in zip(second, tokens, strict=True):
        add = _post("/cart/add", {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 50.00}, t)
        _ok(invoke(functions["AddToCartFunction"], add))
    remove_events = [
        api_gateway_event(
            "DELETE", f"/cart/items/{r['seatId']}", resource="/cart/items/{seatId}",
            path_parameters={"seatId": r["seatId"]}, headers={"Authorization": f"Bearer {t}"},
        )
        for r, t in zip(second, tokens, strict=True)
    ]  # fmt: skip
    measure("DELETE /cart/items/{seatId}", "RemoveCartItemFunction", remove_events, _ok)
    # add-to-cart with prices verified against the Catalog: the copy of its prices knows every
    # seat (the scheduled refresh's job, done here as setup), and CATALOG_URL names a port nobody
    # listens on, so that a request that asked the Catalog would fail the run
    third = publish_reservations(customers)
    [warm_verified] = publish_reservations([f"bench-{tag}-warm-verified"])
    keep_seat_prices([r["seatId"] for r in (*third, warm_verified)], "50.00")
    with verified_prices():
        # the new settings make new connections: one request, not measured, makes them
        warm_body = {"reservationId": warm_verified["reservationId"], "seatId": warm_verified["seatId"], "price": 50}
        _ok(invoke(functions["AddToCartFunction"], _post("/cart/add", warm_body, token(warm_verified["customerId"]))))
        verified_events = [
            _post("/cart/add", {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 50.00}, t)
            for r, t in zip(third, tokens, strict=True)
        ]
        measure("POST /cart/add, prices verified", "AddToCartFunction", verified_events, _ok)
    return results


def median_of(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Several runs of `run` as one: each figure's median over the runs, and the CPU p50 of
    every run (on a 2-core machine shared with the stores, a single run can be off by a third)."""
    combined: dict[str, dict[str, Any]] = {}
    for name in runs[0]:
        figures = [run[name] for run in runs]
        combined[name] = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
        combined[name]["cpu_p50_ms_runs"] = [f["cpu_p50_ms"] for f in figures]
    return combined

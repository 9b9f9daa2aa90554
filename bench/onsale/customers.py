"""The crowd: customers signed in, each wanting 1-4 seats, asking Inventory for them, adding each
seat granted to the cart at the Catalog's price, checking out (or abandoning), and waiting for
the order to be paid. Coroutines on one event loop; HTTP goes through a few threads, each with
a keep-alive connection, which bound the requests in flight."""

from __future__ import annotations

import asyncio
import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.onsale.standins import Inventory, Seat
from ordering import jsonio
from tests.support import Reply


@dataclass(frozen=True, slots=True)
class Request:
    endpoint: str
    status: int
    error: str | None
    sent_at: float  # wall clock
    latency_ms: float  # on the wire: request written to response read, in the sending thread
    queued_ms: float  # waiting for a connection thread: the client's own overhead


NO_ANSWER = 0  # the status of a request that got no answer (the connection failed twice)


class Http:
    """HTTP/1.1 over `connections` keep-alive connections, one per thread."""

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._prefix = parts.path.rstrip("/")
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="http")
        self._local = threading.local()
        self.requests: list[Request] = []

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=30)
            self._local.connection = connection
        return connection

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[Reply, float]:
        started = time.perf_counter()
        for attempt in range(2):  # a keep-alive connection the server closed meanwhile is opened again once
            connection = self._connection()
            try:
                connection.request(method, self._prefix + path, body, headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._local.connection = None
                if attempt:  # no answer at all: recorded as status 0, a failure the report counts
                    latency_ms = (time.perf_counter() - started) * 1000
                    return Reply(NO_ANSWER, {}, {"error": f"no answer: {exc!r}"}), latency_ms
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            parsed = jsonio.loads(data) if data else None
        except ValueError:  # not the service's JSON (a proxy's or a gateway's page): kept as the error
            parsed = {"error": data[:200].decode(errors="replace")}
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed), latency_ms

    async def call(self, endpoint: str, method: str, path: str, token: str | None, body: Any = None) -> Reply:
        """`token`: the customer's JWT; None on the internal API, which asks for no identity."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = jsonio.dumps(body).encode() if body is not None else None
        queued_at, sent_at = time.perf_counter(), time.time()
        loop = asyncio.get_running_loop()

        def timed() -> tuple[Reply, float, float]:
            waited_ms = (time.perf_counter() - queued_at) * 1000
            reply, latency_ms = self._send(method, path, data, headers)
            return reply, latency_ms, waited_ms

        reply, latency_ms, waited_ms = await loop.run_in_executor(self._pool, timed)
        self.requests.append(Request(endpoint, reply.status, reply.error, sent_at, latency_ms, waited_ms))
        return reply

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class Pace:
    """How long a customer takes, in seconds (think times multiplied by `think_scale`)."""

    think_scale: float
    give_up_s: float  # waiting for a first seat
    rest_patience_s: float  # once a seat is in the cart, waiting for the others
    poll_every_s: float = 1.0
    poll_for_s: float = 60.0

    def think(self, rng: random.Random, low: float, high: float) -> float:
        return rng.uniform(low, high) * self.think_scale


@dataclass(frozen=True)
class Plan:
    customer_id: str
    token: str
    seats: list[Seat]
    arrives_after_s: float
    abandons: bool


@dataclass
class Crowd:
    """What the customers did, counted as they go."""

    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # status and error of a request given up on
    first_added_at: dict[str, float] = field(default_factory=dict)  # reservation → first 200 of its add
    paid_seats_seen: dict[str, str] = field(default_factory=dict)  # seat → the order a customer saw paid
    seat_seen_paid_twice: list[str] = field(default_factory=list)
    arrived: int = 0
    done: int = 0


# refusals that are not final: the reservation not consumed yet, the previous holder's order not
# cancelled yet by its reservation's expiry (Inventory granted the seat since); 429 and 503 too
_RETRIED = {
    (400, "Reservation not found"),
    (409, "Seat is already in another order"),
}
RETRY_FOR_S = 20.0


@dataclass
class Shop:
    """What every customer goes through: Inventory, the service's API, the pace, the counts."""

    inventory: Inventory
    http: Http
    pace: Pace
    crowd: Crowd

    async def request(self, endpoint: str, method: str, path: str, token: str, body: Any = None) -> Reply:
        """The request, sent again as its answer says (Retry-After) while the refusal is a passing one."""
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            reply = await self.http.call(endpoint, method, path, token, body)
            passing = reply.status in (429, 503) or (reply.status, reply.error) in _RETRIED
            if reply.status == 200 or not passing or time.monotonic() > deadline:
                if reply.status != 200:
                    self.crowd.refusals[f"{endpoint} {reply.status} {reply.error}"] += 1
                return reply
            await asyncio.sleep(float(reply.headers.get("retry-after", "1")))


async def shop(plan: Plan, at: Shop, rng: random.Random) -> None:
    await asyncio.sleep(plan.arrives_after_s)
    at.crowd.arrived += 1
    try:
        cart = await _fill_cart(plan, at, rng)
        if cart is None:
            outcome = "no seat"
        elif plan.abandons:
            outcome = "abandoned the cart"
        else:
            outcome = await _buy(plan, at, rng, cart)
        at.crowd.outcomes[outcome] += 1
    finally:
        at.crowd.done += 1


async def _fill_cart(plan: Plan, at: Shop, rng: random.Random) -> dict[str, Any] | None:
    """Each seat Inventory grants, added to the cart; the cart, or None without a seat."""
    prices = {seat.id: seat.price for seat in plan.seats}
    ask = at.inventory.ask(plan.customer_id, list(prices))
    waiting_until = time.monotonic() + at.pace.give_up_s
    cart: dict[str, Any] | None = None
    try:
        for _ in prices:
            try:
                answer = await asyncio.wait_for(ask.answers.get(), max(0.0, waiting_until - time.monotonic()))
            except TimeoutError:
                break
            if isinstance(answer, str):  # SOLD: someone else's order was paid
                continue
            await asyncio.sleep(at.pace.think(rng, 1.0, 4.0))  # finds the seat on the map, clicks "add"
            reply = await at.request(
                "POST /cart/add", "POST", "/cart/add", plan.token,
                {"reservationId": answer["reservationId"], "seatId": answer["seatId"],
                 "price": prices[answer["seatId"]]},
            )  # fmt: skip
            if reply.status == 200:
                at.crowd.first_added_at.setdefault(answer["reservationId"], time.time())
                if cart is None:  # the rest of the seats, only as long as patience lasts
                    waiting_until = min(waiting_until, time.monotonic() + at.pace.rest_patience_s)
                cart = reply.body
    finally:
        at.inventory.withdraw(ask)
    return cart


async def _buy(plan: Plan, at: Shop, rng: random.Random, cart: dict[str, Any]) -> str:
    """Checkout, then the order read until Payment has answered; how it ended."""
    await asyncio.sleep(at.pace.think(rng, 3.0, 10.0))  # reviews the cart, types the card details
    checkout = await at.request(
        "POST /orders/checkout", "POST", "/orders/checkout", plan.token, {"orderId": cart["id"]}
    )
    if checkout.status != 200:
        return f"checkout refused: {checkout.error}"
    polled_until = time.monotonic() + at.pace.poll_for_s
    while time.monotonic() < polled_until:
        await asyncio.sleep(at.pace.poll_every_s)
        order = await at.request("GET /orders/{id}", "GET", f"/orders/{cart['id']}", plan.token)
        state = order.body.get("state") if order.status == 200 else None
        if state in ("paid", "fulfilled"):
            for item in order.body["items"]:
                seen = at.crowd.paid_seats_seen.setdefault(item["seatId"], cart["id"])
                if seen != cart["id"]:
                    at.crowd.seat_seen_paid_twice.append(f"seat {item['seatId']} in orders {seen}, {cart['id']}")
            return "paid"
        if state == "cancelled":
            return "order cancelled"
    return "still pending when it stopped waiting"


def plans(
    seats: list[Seat], rng: random.Random, *, customers: int, hot_share: float, abandon_share: float,
    ramp_s: float, token_of: Callable[[str], str], run: str,
) -> list[Plan]:  # fmt: skip
    """The crowd: a `hot_share` wanting seats of the hot block, the others the rest; 1-4 seats
    each, side by side in a row where they can; arrivals spread evenly over the ramp."""
    hot = [seat for seat in seats if seat.hot]
    rest = [seat for seat in seats if not seat.hot] or hot
    made = []
    for index in range(customers):
        block = hot if hot and rng.random() < hot_share else rest
        wanted = min(len(block), rng.choice((1, 2, 2, 2, 3, 4)))
        first = rng.randrange(len(block) - wanted + 1)
        customer_id = f"onsale-{run}-{index:05d}"
        made.append(
            Plan(customer_id, token_of(customer_id), block[first : first + wanted],
                 rng.uniform(0, ramp_s), rng.random() < abandon_share)
        )  # fmt: skip
    return made

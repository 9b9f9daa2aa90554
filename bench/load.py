"""Load over HTTP: the local runner in its own process, 32 concurrent clients for 30 s, each a
customer at a time going add-to-cart → checkout → get-order; then the database invariants."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.setup import Stores, publish_reservations
from ordering_local.embedded import free_port
from tests.support import ROOT, token

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
CUSTOMERS_PER_CLIENT = int(os.environ.get("BENCH_CUSTOMERS_PER_CLIENT", "600"))
# The runner's execution environments (worker processes). Lambda would give each concurrent
# request one of its own; on this 2-core machine, two per core serve 32 clients best (32 went
# at half the rate, spending the cores on switching between processes).
ENVIRONMENTS = int(os.environ.get("BENCH_ENVIRONMENTS", "4"))

INVARIANTS = {
    "a seat in two live orders": "SELECT count(*) FROM (SELECT seat_id FROM bc_ordering.order_items"
    " WHERE order_live GROUP BY seat_id HAVING count(*) > 1) AS twice",
    "two drafts of one owner": "SELECT count(*) FROM (SELECT owner_key FROM bc_ordering.orders"
    " WHERE state = 'draft' GROUP BY owner_key HAVING count(*) > 1) AS twice",
    "a total that is not the sum of its items": "SELECT count(*) FROM bc_ordering.orders o"
    " WHERE o.total_amount <> (SELECT coalesce(sum(price), 0) FROM bc_ordering.order_items i WHERE i.order_id = o.id)"
    " OR o.item_count <> (SELECT count(*) FROM bc_ordering.order_items i WHERE i.order_id = o.id)",
    "an item live in a cancelled order, or the reverse": "SELECT count(*) FROM bc_ordering.order_items i"
    " JOIN bc_ordering.orders o ON o.id = i.order_id WHERE i.order_live <> (o.state <> 'cancelled')",
}


def _serve(stores: Stores, port: int) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "DATABASE_URL": stores.database_url, "REDIS_URL": stores.redis_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "ordering_local.cli", "serve", "--port", str(port), "--internal-port", str(free_port()),
         "--environments", str(ENVIRONMENTS), "--no-kafka"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # every environment starts (and imports) before it serves
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health-probe", timeout=1)
        except urllib.error.HTTPError:
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the local runner did not start")


@dataclass
class _Run:
    port: int
    by_customer: dict[str, dict[str, Any]]
    stop_at: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ran_out: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(run: _Run, mine: list[str]) -> None:
    """One client: a customer at a time, add-to-cart → checkout → get-order, until time is up."""
    connection = http.client.HTTPConnection("127.0.0.1", run.port, timeout=10)
    local: list[float] = []
    current = [""]  # the customer being served, for error messages

    def call(method: str, path: str, body: dict[str, Any] | None, bearer: str) -> dict[str, Any]:
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload: dict[str, Any] = json.loads(response.read())
        local.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            with run.lock:
                run.errors.append(f"{method} {path} {response.status} {payload} (as {current[0]})")
        return payload

    try:
        for customer in mine:
            if time.monotonic() >= run.stop_at:
                break
            reservation, bearer = run.by_customer[customer], token(customer)
            current[0] = customer
            cart = call(
                "POST", "/cart/add",
                {"reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50.00},
                bearer,
            )  # fmt: skip
            if "id" not in cart:
                continue
            call("POST", "/orders/checkout", {"orderId": cart["id"]}, bearer)
            call("GET", f"/orders/{cart['id']}", None, bearer)
        else:
            run.ran_out.set()
    except (OSError, http.client.HTTPException) as exc:
        with run.lock:
            run.errors.append(f"client gave up: {exc!r}")
    connection.close()
    with run.lock:
        run.latencies.extend(local)


def run(stores: Stores) -> dict[str, Any]:
    customers = [[f"load-{c}-{n}" for n in range(CUSTOMERS_PER_CLIENT)] for c in range(CLIENTS)]
    reservations = publish_reservations([customer for client in customers for customer in client])
    port = free_port()
    server = _serve(stores, port)
    state = _Run(port, {r["customerId"]: r for r in reservations}, time.monotonic() + SECONDS)
    threads = [threading.Thread(target=_client, args=(state, mine)) for mine in customers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    server.terminate()
    server.wait(30)

    with psycopg.connect(stores.database_url) as connection:
        broken = {name: connection.execute(sql).fetchone()[0] for name, sql in INVARIANTS.items()}  # type: ignore[index]
    ordered = sorted(state.latencies)
    return {
        "clients": CLIENTS,
        "environments": ENVIRONMENTS,
        "seconds": elapsed,
        "requests": len(ordered),
        "requests_per_s": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1],
        "errors": len(state.errors),
        "first_errors": state.errors[:3],
        "ran_out_of_customers": state.ran_out.is_set(),
        "invariants": "all hold" if not any(broken.values()) else {k: v for k, v in broken.items() if v},
    }

"""The README's walk-through, over HTTP, against `ordering-local serve` in its own process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ordering_local.embedded import free_port
from tests.support import ROOT, payment_succeeded, reservation_created, stored_state, ticket_issued, topic_environment

CLI = [sys.executable, "-m", "ordering_local.cli"]


@pytest.fixture
def runner_env(stores: dict[str, str]) -> dict[str, str]:
    # topics of its own on the broker: the mappings of `make run` must not take its records
    return {**os.environ, **stores, **topic_environment(f"t{uuid.uuid4().hex[:8]}-")}


@dataclass(frozen=True)
class Endpoints:
    """The runner's two APIs, each on a port of its own as on AWS."""

    public: str
    internal: str


@pytest.fixture
def endpoints(runner_env: dict[str, str]) -> Iterator[Endpoints]:
    port, internal_port = free_port(), free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--internal-port", str(internal_port)], cwd=ROOT, env=runner_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    started = Endpoints(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{internal_port}")
    deadline = time.monotonic() + 30
    for base in (started.public, started.internal):
        while True:
            try:
                urllib.request.urlopen(f"{base}/nowhere", timeout=1)  # noqa: S310 - loopback only
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(process.stdout.read().decode() if process.stdout else "no output") from None
                time.sleep(0.1)
    yield started
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def server(endpoints: Endpoints) -> str:
    """The public API's address."""
    return endpoints.public


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([*CLI, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read(), parse_float=Decimal)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read(), parse_float=Decimal)


def test_the_seed_purchase_flow_over_http(server: str, runner_env: dict[str, str]) -> None:
    # Given a token minted by the runner and two reservations published through it
    token = _cli(runner_env, "token", "--sub", "user-123", "--email", "ana@example.com")
    first, second = reservation_created(), reservation_created(seat_number="VIP-A-13")
    published = json.loads(_cli(runner_env, "publish", "reservation-created", "-", stdin=json.dumps([first, second])))
    assert published["response"] == {"batchItemFailures": []}

    # When the customer adds both seats, checks out and reads the order
    status1, cart1 = _http("POST", f"{server}/cart/add", {
        "reservationId": first["reservationId"], "seatId": first["seatId"], "price": 50.00, "userId": "user-123",
    }, token)  # fmt: skip
    status2, cart2 = _http("POST", f"{server}/cart/add", {
        "reservationId": second["reservationId"], "seatId": second["seatId"], "price": 50.00, "userId": "user-123",
    }, token)  # fmt: skip
    status3, pending = _http("POST", f"{server}/orders/checkout", {"orderId": cart1["id"], "userId": "user-123"}, token)
    status4, order = _http("GET", f"{server}/orders/{cart1['id']}", token=token)

    # Then the seed's figures come back
    assert (status1, cart1["state"], cart1["totalAmount"]) == (200, "draft", Decimal("50.00"))
    assert (status2, cart2["id"], cart2["totalAmount"], len(cart2["items"])) == (
        200, cart1["id"], Decimal("100.00"), 2,
    )  # fmt: skip
    assert (status3, pending["state"], pending["paidAt"]) == (200, "pending", None)
    assert (status4, order["state"], order["customerEmail"]) == (200, "pending", "ana@example.com")

    # and when Payment and Fulfillment report back through the runner
    paid = json.loads(
        _cli(
            runner_env, "publish", "payment-succeeded", "-", stdin=json.dumps(payment_succeeded(pending), default=float)
        )
    )
    ticket = json.loads(
        _cli(runner_env, "publish", "ticket-issued", "-", stdin=json.dumps(ticket_issued(pending), default=float))
    )
    status5, fulfilled = _http("GET", f"{server}/orders/{cart1['id']}", token=token)

    # Then the order is fulfilled, with the time it was paid
    assert paid["response"] == ticket["response"] == {"batchItemFailures": []}
    assert (status5, fulfilled["state"], fulfilled["paidAt"] is not None) == (200, "fulfilled", True)

    # and the runner's outbox relay told the platform, as `ordering-local events` shows
    def story() -> list[tuple[str, int]]:
        lines = _cli(runner_env, "events").splitlines()
        mine = [json.loads(line) for line in lines if cart1["id"] in line]
        return sorted((record["value"]["eventType"], record["value"]["version"]) for record in mine)

    deadline = time.monotonic() + 20
    while story() != [("order-checked-out", 1), ("order-fulfilled", 3), ("order-paid", 2)]:
        assert time.monotonic() < deadline, story()
        time.sleep(0.5)


def _readme_blocks(section: str, endpoints: Endpoints) -> list[str]:
    """The shell blocks of a README section, aimed at this runner's two ports."""
    readme = (ROOT / "README.md").read_text()
    text = readme.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [
        block.replace("http://127.0.0.1:5003", endpoints.public).replace("http://127.0.0.1:5004", endpoints.internal)
        for block in blocks
    ]


def test_the_readmes_walk_through_runs_twice_in_a_row(endpoints: Endpoints, runner_env: dict[str, str]) -> None:
    # Given README's walk-through, as a newcomer pastes it into a shell beside `make run`
    blocks = _readme_blocks("Buy a seat with curl", endpoints)
    assert len(blocks) == 2, "the walk-through has its two blocks"
    script = "\n".join(blocks)
    for run in (1, 2):
        # When it runs (the second time right after the first)
        # (its last line, `events | grep`, may find nothing yet: the answers are what is checked)
        done = subprocess.run(
            ["bash", "-c", script], check=False, cwd=ROOT, env=runner_env, capture_output=True, text=True, timeout=180
        )
        # Then every step answers, and the order ends fulfilled: paid, then ticketed
        orders = re.findall(r'"state":"(\w+)"', done.stdout)
        assert orders[-1] == "fulfilled", (run, done.stdout, done.stderr)
        assert orders == ["draft", "pending", "pending", "fulfilled"], (run, done.stdout)
        assert done.stdout.count('"batchItemFailures": []') == 3, (run, done.stdout)


@pytest.mark.parametrize("catalog", ["", "http://127.0.0.1:5001"], ids=["no-catalog", "catalog"])
def test_the_runner_says_at_start_whether_prices_are_verified(runner_env: dict[str, str], catalog: str) -> None:
    # When the runner starts, with CATALOG_URL unset or set (--no-kafka: its API alone)
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(free_port()), "--internal-port", str(free_port()), "--no-kafka"], cwd=ROOT,
        env={**runner_env, "CATALOG_URL": catalog}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not (lines[-1].startswith("Kafka") or lines[-1] == ""):  # its last start-up line
            lines.append(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)
    # Then its start-up lines say whether the price a client sends is checked
    [said] = [line for line in lines if line.startswith("Prices:")]
    if catalog:
        assert said.startswith(f"Prices: verified against the Catalog at {catalog}"), said
    else:
        assert said.startswith("Prices: NOT verified. CATALOG_URL is not set"), said


def test_the_readmes_platform_callers_call_as_it_says(endpoints: Endpoints, runner_env: dict[str, str]) -> None:
    # Given README's "Running beside the platform" block: the frontend, Fulfillment and Waitlist
    [script] = _readme_blocks("Running beside the platform", endpoints)
    # When it runs beside the runner
    done = subprocess.run(
        ["bash", "-c", script], check=False, cwd=ROOT, env=runner_env, capture_output=True, text=True, timeout=120
    )
    # Then the frontend's order is checked out, Fulfillment reads it on the internal port, and the
    # Waitlist's order is placed and cancelled there
    answers = _documents(done.stdout)
    checked_out, read, cancelled = answers[-3], answers[-2], answers[-1]
    assert checked_out["state"] == "pending", done.stdout + done.stderr
    assert (read["orderId"], read["state"]) == (checked_out["id"], "pending")
    assert cancelled["state"] == "cancelled"


def _documents(output: str) -> list[Any]:
    """The JSON documents a shell printed one after another (curl adds no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := output.find("{", at)) != -1:
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found


def test_two_hundred_idle_connections_do_not_hold_up_a_request(server: str) -> None:
    # Given a warm runner, and 200 keep-alive connections opened to it and left idle (a few
    # browsers' worth), one of them having made a request first
    assert _get(f"{server}/health")[0] == 200
    host, port = server.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(200)]
    try:
        idle[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle[0].recv(4096).startswith(b"HTTP/1.1 200")
        # When another client asks for /health, giving up after a second
        status = _get_within(f"{server}/health", seconds=1.0)
        # Then it is answered: no connection waits behind the idle ones
        assert status == 200
    finally:
        for connection in idle:
            connection.close()


def _get_within(url: str, seconds: float) -> int:
    with urllib.request.urlopen(url, timeout=seconds) as response:  # noqa: S310 - loopback only
        return int(response.status)


def test_an_unknown_route_is_api_gateways_403(server: str) -> None:
    assert _raw("GET", f"{server}/nowhere")[:3:2] == (403, {"message": "Missing Authentication Token"})


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
def test_stopping_the_runner_stops_its_execution_environments(runner_env: dict[str, str], stop: int) -> None:
    # Given a runner serving with two execution environments (worker processes)
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--internal-port", str(free_port()), "--environments", "2"],
        cwd=ROOT, env=runner_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    environments: list[int] = []
    while len(environments) < 2 and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False)
        environments = [int(pid) for pid in found.stdout.split()]
        time.sleep(0.2)
    assert len(environments) >= 2

    # When the runner is stopped, politely or not
    process.send_signal(stop)
    process.wait(timeout=10)

    # Then none of its environments outlives it (they hold database connections)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in environments):
        time.sleep(0.2)
    assert not [pid for pid in environments if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _raw(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """A request with exactly these headers; (status, response headers, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), json.loads(response.read() or b"null", parse_float=Decimal)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null", parse_float=Decimal)


def test_a_browser_on_the_frontends_origin_may_call_the_api(server: str, runner_env: dict[str, str]) -> None:
    # Given a seat reserved for a browser session of the platform's frontend (http://localhost:3000)
    browser = str(uuid.uuid4())
    reservation = reservation_created(customer=browser)
    _cli(runner_env, "publish", "reservation-created", "-", stdin=json.dumps(reservation))
    origin = {"Origin": "http://localhost:3000"}

    # When the browser sends its preflight, then its POST
    preflight = _raw("OPTIONS", f"{server}/cart/add", headers={
        **origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
    })  # fmt: skip
    added = _raw("POST", f"{server}/cart/add", {
        "reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50.00,
        "userId": browser,
    }, {**origin, "Content-Type": "application/json"})  # fmt: skip

    # Then both carry the headers that let the browser through, and the cart is the browser's
    status, headers, _ = preflight
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "content-type" in headers["Access-Control-Allow-Headers"].lower()
    assert (added[0], added[1]["Access-Control-Allow-Origin"], added[2]["userId"]) == (
        200, "http://localhost:3000", browser,
    )  # fmt: skip
    # and a refusal is readable too
    refused = _raw("POST", f"{server}/cart/add", {"seatId": "x"}, {**origin, "Content-Type": "application/json"})
    assert (refused[0], refused[1]["Access-Control-Allow-Origin"]) == (400, "http://localhost:3000")


def test_the_platforms_services_reach_their_routes_on_the_internal_port(
    endpoints: Endpoints, runner_env: dict[str, str]
) -> None:
    # Given a customer's pending order
    server, internal = endpoints.public, endpoints.internal
    token = _cli(runner_env, "token", "--sub", "user-123", "--email", "ana@example.com")
    reservation = reservation_created()
    _cli(runner_env, "publish", "reservation-created", "-", stdin=json.dumps(reservation))
    _, cart = _http("POST", f"{server}/cart/add", {
        "reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50.00,
    }, token)  # fmt: skip
    _http("POST", f"{server}/orders/checkout", {"orderId": cart["id"]}, token)

    # When Fulfillment reads it and Waitlist places and cancels an order, all without identity,
    # on the internal API's port
    read = _raw("GET", f"{internal}/Orders/{cart['id']}")
    json_type = {"Content-Type": "application/json"}
    placed = _raw("POST", f"{internal}/orders/waitlist", {
        "seatId": str(uuid.uuid4()), "price": 0, "guestToken": "w@example.com", "concertEventId": str(uuid.uuid4()),
    }, json_type)  # fmt: skip
    cancelled = _raw("PATCH", f"{internal}/orders/{placed[2]['orderId']}/cancel", {}, json_type)

    # Then each gets what it reads, with no CORS header (no page of a browser reads the internal API)
    assert (read[0], read[2]["orderId"], read[2]["customerEmail"]) == (200, cart["id"], "ana@example.com")
    assert placed[0] == 201
    assert (cancelled[0], cancelled[2]["state"]) == (200, "cancelled")
    assert "Access-Control-Allow-Origin" not in read[1]


def test_the_public_port_never_gives_internal_semantics_nor_the_internal_port_public_routes(
    endpoints: Endpoints, runner_env: dict[str, str], database_url: str
) -> None:
    # Given a customer's pending order
    server, internal = endpoints.public, endpoints.internal
    token = _cli(runner_env, "token", "--sub", "user-123")
    reservation = reservation_created()
    _cli(runner_env, "publish", "reservation-created", "-", stdin=json.dumps(reservation))
    _, cart = _http("POST", f"{server}/cart/add", {
        "reservationId": reservation["reservationId"], "seatId": reservation["seatId"], "price": 50.00,
    }, token)  # fmt: skip
    _http("POST", f"{server}/orders/checkout", {"orderId": cart["id"]}, token)
    json_type = {"Content-Type": "application/json"}
    before = stored_state(database_url)

    # When anyone without identity reads or cancels it on the public port, or reaches the
    # internal-only routes there (a stranger's token too)
    read = _raw("GET", f"{server}/orders/{cart['id']}")
    cancel = _raw("PATCH", f"{server}/orders/{cart['id']}/cancel", {}, json_type)
    fulfillment = _raw("GET", f"{server}/Orders/{cart['id']}", headers={"X-User-Id": str(uuid.uuid4())})
    waitlist = _raw("POST", f"{server}/orders/waitlist", {
        "seatId": str(uuid.uuid4()), "price": 0, "guestToken": "w@example.com",
    }, json_type)  # fmt: skip
    # or reaches a public-only route on the internal port
    cart_on_internal = _raw("POST", f"{internal}/cart/add", {"seatId": str(uuid.uuid4()), "price": 1}, json_type)

    # Then the public API answers as it does on AWS (its own error for no identity, and API
    # Gateway's 403 for a route it does not have), and nothing changed
    assert (read[0], read[2]) == (400, {"error": "Either UserId or GuestToken must be provided"})
    assert (cancel[0], cancel[2]) == (400, {"error": "Either UserId or GuestToken must be provided"})
    for refused in (fulfillment, waitlist, cart_on_internal):
        assert (refused[0], refused[2]) == (403, {"message": "Missing Authentication Token"})
    assert stored_state(database_url) == before


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_the_runner_serves_the_openapi_document_and_swagger_ui_with_no_network(server: str) -> None:
    # When the OpenAPI document and the Swagger UI page are fetched
    document = json.loads(_get(f"{server}/openapi.json")[2])
    status, media_type, page = _get(f"{server}/docs")
    # Then the document is the committed one, and the page loads every asset from the runner
    # itself (none from a CDN): each is there, with its media type
    assert document == json.loads((ROOT / "openapi.json").read_text())
    assert (status, media_type.split(";")[0]) == (200, "text/html")
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.decode())
    assert referenced, page
    assert all(url.startswith("/") for url in referenced), referenced
    expected = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for url in referenced:
        status, media_type, body = _get(f"{server}{url}")
        assert (status, media_type.split(";")[0]) == (200, expected[Path(url).suffix]), url
        assert body
    assert '"/openapi.json"' in page.decode()


def test_a_killed_execution_environment_is_replaced(runner_env: dict[str, str]) -> None:
    # Given a runner serving with two execution environments
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--internal-port", str(free_port()), "--environments", "2",
         "--no-kafka"], cwd=ROOT, env=runner_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)  # noqa: S310 - loopback only
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False)
        environments = [int(pid) for pid in found.stdout.split()]

        # When both are killed (SIGKILL), as a crash or the OOM killer would
        for pid in environments:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)

        # Then every later request is served, by new environments
        statuses = [_http("GET", f"{base}/health")[0] for _ in range(6)]
        assert statuses == [200] * 6
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert output.count("a new one replaces it") >= 2, output

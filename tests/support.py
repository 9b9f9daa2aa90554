"""What the tests share: calling the functions through their Lambda events, building payloads
and tokens, and reading the stored state back."""

from __future__ import annotations

import datetime as dt
import json
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import psycopg

from ordering.published.events import MODELS
from ordering_local.events import Message, api_gateway_event, message_key, msk_event
from ordering_local.invoke import invoke
from ordering_local.template import Function, load

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"


HOST_LAYER = ROOT / ".aws-sam" / "host-layer"


def host_layer() -> Path:
    """The built layer's twin for this machine: the same recipe (layers/ordering/Makefile), with the
    wheels of this machine's architecture instead of Graviton's, so that it runs here."""
    marker = HOST_LAYER / "built"
    built_at = marker.stat().st_mtime if marker.is_file() else 0.0
    sources = [path for path in (ROOT / "layers").rglob("*") if path.is_file()]
    if any(source.stat().st_mtime > built_at for source in sources):
        machine = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine()]
        subprocess.run(["rm", "-rf", str(HOST_LAYER)], check=True)
        subprocess.run(
            [
                "make", "-C", str(ROOT / "layers" / "ordering"), "build-OrderingLayer",
                f"ARTIFACTS_DIR={HOST_LAYER}", f"PYTHON={sys.executable}",
                f"PLATFORMS=--platform manylinux_2_28_{machine} --platform manylinux2014_{machine}",
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        marker.touch()
    return HOST_LAYER / "python"


def current_build() -> Path:
    """What `sam build` makes of the code as it is now (`make build` when a source is newer)."""
    built_at = (BUILD / "template.yaml").stat().st_mtime if (BUILD / "template.yaml").is_file() else 0.0
    sources = [ROOT / "template.yaml", *(ROOT / "layers").rglob("*"), *(ROOT / "functions").rglob("*")]
    if any(source.stat().st_mtime > built_at for source in sources if source.is_file()):
        subprocess.run(["make", "build"], cwd=ROOT, check=True, capture_output=True)
    return BUILD


# the platform's topics the service consumes
TOPICS = ("reservation-created", "reservation-expired", "payment-succeeded", "payment-failed", "ticket-issued")


# the topics it publishes (the outbox relay)
PUBLISHED_TOPICS = tuple(MODELS)


def _renaming(prefix: str, topics: Sequence[str]) -> dict[str, str]:
    return {f"{topic.upper().replace('-', '_')}_TOPIC": prefix + topic for topic in topics}


def published_topic_environment(prefix: str) -> dict[str, str]:
    """The variables that rename the published topics only (`prefix` + its name)."""
    return _renaming(prefix, PUBLISHED_TOPICS)


def topic_environment(prefix: str) -> dict[str, str]:
    """The variables that rename every topic (`prefix` + its name), in the functions, the
    runner's event source mappings and the relay: a test's own topics, whose offsets start afresh."""
    return _renaming(prefix, (*TOPICS, *PUBLISHED_TOPICS))


JWT_SECRET = "test-signing-key-of-the-identity-service-long-enough-for-hs256-and-hs512"
REDACTION_SECRET = "test-key-of-the-hmacs-that-customer-ids-are-kept-as"
USER = "user-123"
EMAIL = "ana@example.com"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token(
    sub: str = USER,
    *,
    email: str | None = EMAIL,
    role: str | None = None,
    secret: str = JWT_SECRET,
    algorithm: str = "HS256",
    issuer: str = "SpecKit.Identity",
    audience: str = "SpecKit.Services",
    expires_in: dt.timedelta = dt.timedelta(hours=2),
) -> str:
    now = utc_now()
    claims: dict[str, Any] = {"sub": sub, "iss": issuer, "aud": audience, "iat": now, "exp": now + expires_in}
    if email:
        claims["email"] = email
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(sub: str = USER, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def _money(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


@dataclass
class Service:
    """The service's functions, invoked with the events Lambda would hand them: in this process,
    or (with an `invoker` such as Environments.invoke) in separate execution environments."""

    functions: list[Function] = field(default_factory=lambda: load(ROOT))
    invoker: Callable[[Function, dict[str, Any]], Any] = invoke

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw_body: str | None = None,
        api: str = "public",
    ) -> Reply:
        """A request through API Gateway's event of the public API, or of the internal one
        (`api="internal"`, the private API the platform's services call)."""
        path, _, query = path.partition("?")
        for function in self.functions:
            for route in function.routes:
                parameters = route.match(method, path)
                if parameters is None or route.internal != (api == "internal"):
                    continue
                all_headers = {"Content-Type": "application/json", **(headers or {})}
                text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
                event = api_gateway_event(
                    method,
                    path,
                    resource=route.path,
                    path_parameters=parameters,
                    headers=all_headers,
                    query=query,
                    body=text,
                    stage_variables=route.stage_variables,
                )
                result = self.invoker(function, event)
                merged = {k: ", ".join(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
                merged.update(result.get("headers") or {})
                return Reply(result["statusCode"], merged, _money(result["body"]) if result.get("body") else None)
        raise AssertionError(f"no {api} route for {method} {path}")

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, headers, **kw)

    def get(self, path: str, headers: dict[str, str] | None = None, *, api: str = "public") -> Reply:
        return self.call("GET", path, None, headers, api=api)

    def patch(self, path: str, body: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, headers, **kw)

    def consumer(self, topic: str) -> Function:
        return next(function for function in self.functions if topic in function.topics)

    def publish(self, topic: str, *payloads: Any, first_offset: int = 0, partition: int = 0) -> dict[str, Any]:
        messages = [
            Message(
                topic,
                payload,
                key=message_key(topic, payload),
                partition=partition,
                offset=first_offset + index,
            )
            for index, payload in enumerate(payloads)
        ]
        return self.deliver(topic, messages)

    def deliver(self, topic: str, messages: list[Message]) -> dict[str, Any]:
        response: dict[str, Any] = self.invoker(self.consumer(topic), msk_event(messages))
        return response

    # the seed flow's steps

    def add_to_cart(
        self,
        reservation: dict[str, Any],
        *,
        price: str | None = "50.00",
        who: str | None = USER,
        guest: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> Reply:
        """POST /cart/add for a reservation; `price` is the JSON literal sent (exactly as written)."""
        body: dict[str, Any] = {
            "reservationId": reservation["reservationId"],
            "seatId": reservation["seatId"],
        }
        if who is not None:
            body["userId"] = who
        if guest is not None:
            body["guestToken"] = guest
        body.update(fields)
        text = json.dumps(body)
        if price is not None:
            text = f'{text[:-1]}, "price": {price}}}'
        if headers is None:
            headers = bearer(who) if who is not None else {}
        return self.post("/cart/add", headers=headers, raw_body=text)

    def cart(self, *, seats: int = 1, guest: str | None = None, **reservation: Any) -> dict[str, Any]:
        """A draft order of `seats` newly reserved seats, for USER or for a guest."""
        customer = guest or USER
        reservations = [reservation_created(customer=customer, **reservation) for _ in range(seats)]
        self.publish("reservation-created", *reservations)
        body: dict[str, Any] = {}
        for one in reservations:
            reply = self.add_to_cart(one, who=None if guest else customer, guest=guest)
            assert reply.status == 200, reply.body
            body = reply.body
        return body

    def checkout(
        self,
        order_id: Any,
        *,
        who: str | None = USER,
        guest: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body: dict[str, Any] = {"orderId": str(order_id)}
        if who is not None:
            body["userId"] = who
        if guest is not None:
            body["guestToken"] = guest
        if headers is None:
            headers = bearer(who) if who is not None else {}
        return self.post("/orders/checkout", body, headers)


def assert_refused(database_url: str, call: Callable[[], Reply], status: int, message: str) -> Reply:
    """The call is refused with the contract's status and message, and changes nothing stored."""
    before = stored_state(database_url)
    reply = call()
    assert (reply.status, reply.error) == (status, message), reply.body
    assert stored_state(database_url) == before
    return reply


def reservation_created(
    *,
    customer: str = USER,
    seat: uuid.UUID | None = None,
    expires_in: dt.timedelta = dt.timedelta(minutes=15),
    base_price: Any = 0,
    status: str = "active",
    seat_number: str = "VIP-A-12",
    section: str = "VIP",
) -> dict[str, Any]:
    now = utc_now()
    return {
        "eventId": str(uuid.uuid4()),
        "reservationId": str(uuid.uuid4()),
        "customerId": customer,
        "seatId": str(seat or uuid.uuid4()),
        "seatNumber": seat_number,
        "section": section,
        "basePrice": base_price,
        "createdAt": iso(now),
        "expiresAt": iso(now + expires_in),
        "status": status,
    }


def stored_state(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the service stores, to assert that a refused request changed nothing."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        return {
            table: connection.execute(f"SELECT * FROM bc_ordering.{table} ORDER BY 1").fetchall()  # noqa: S608
            for table in ("orders", "order_items", "reservations")
        }


def payment_succeeded(
    order: dict[str, Any], *, amount: Any = None, payment_id: str | None = None, processed_at: dt.datetime | None = None
) -> dict[str, Any]:
    return {
        "paymentId": payment_id or str(uuid.uuid4()),
        "orderId": order["id"],
        "customerId": order.get("userId") or "guest",
        "reservationId": order["items"][0]["reservationId"] if order.get("items") else None,
        "amount": amount if amount is not None else order["totalAmount"],
        "currency": "USD",
        "paymentMethod": "card",
        "transactionId": f"tx-{uuid.uuid4().hex[:12]}",
        "processedAt": iso(processed_at or utc_now()),
        "status": "succeeded",
    }


def payment_failed(order: dict[str, Any], *, payment_id: str | None = None) -> dict[str, Any]:
    return {
        "paymentId": payment_id or str(uuid.uuid4()),
        "orderId": order["id"],
        "customerId": order.get("userId") or "guest",
        "reservationId": None,
        "amount": order["totalAmount"],
        "currency": "USD",
        "paymentMethod": "card",
        "errorCode": "card_declined",
        "errorMessage": "Your card was declined",
        "failureReason": "insufficient_funds",
        "attemptedAt": iso(utc_now()),
        "status": "failed",
    }


def ticket_issued(order: dict[str, Any], *, ticket_id: str | None = None, camel: bool = False) -> dict[str, Any]:
    payload = {
        "order_id": order["id"],
        "ticket_id": ticket_id or str(uuid.uuid4()),
        "customer_email": EMAIL,
        "ticket_pdf_url": "https://tickets.example.com/t.pdf",
        "event_name": "Concert",
        "seat_number": "VIP-A-12",
        "timestamp": iso(utc_now()),
    }
    if camel:
        return {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in payload.items()}
    return payload


def reservation_expired(reservation: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "reservationId": reservation["reservationId"],
        "seatId": reservation["seatId"],
        "customerId": reservation["customerId"],
        "concertEventId": str(uuid.uuid4()),
    }


def order_row(database_url: str, order_id: Any) -> tuple[Any, ...]:
    """(state, paid_at, fulfilled_at) of an order as stored."""
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT state, paid_at, fulfilled_at FROM bc_ordering.orders WHERE id = %s", (order_id,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def conflicts(database_url: str, order_id: Any = None) -> list[tuple[Any, ...]]:
    """(kind, resolution, amount) of the recorded conflicts."""
    with psycopg.connect(database_url) as connection:
        return [
            tuple(row)
            for row in connection.execute(
                "SELECT kind, resolution, amount FROM bc_ordering.order_conflicts"
                " WHERE %(order)s::uuid IS NULL OR order_id = %(order)s ORDER BY kind",
                {"order": order_id},
            ).fetchall()
        ]


def dead_letters(database_url: str) -> list[tuple[Any, ...]]:
    """(topic, partition, offset, value, reason) of the kept dead letters."""
    with psycopg.connect(database_url) as connection:
        return [
            (row[0], row[1], row[2], bytes(row[3]) if row[3] is not None else None, row[4])
            for row in connection.execute(
                "SELECT topic, kafka_partition, kafka_offset, value, reason FROM bc_ordering.dead_letters ORDER BY id"
            ).fetchall()
        ]


# The local runner as the tests drive it: `ordering-local` in processes of its own.

CLI = [sys.executable, "-m", "ordering_local.cli"]


def wait_until(condition: Callable[[], bool], seconds: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds:g} s: {what}")
        time.sleep(0.1)


class Runner:
    """`ordering-local consume`, in its own process."""

    def __init__(self, environment: dict[str, str], state: Path) -> None:
        self.environment = environment
        self.state = state
        self.process: subprocess.Popen[bytes] | None = None
        self.output = state / f"consume-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> Runner:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.output.open("ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "consume", "--environments", "2"], cwd=ROOT, env=self.environment, stdout=log, stderr=log
            )
        wait_until(lambda: "consumed as the template's" in self.log() or self._ended(), 90, "the runner is up")
        assert not self._ended(), self.log()
        return self

    def _ended(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.is_file() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


# What may happen to a pending order of two seats, in causal order, and the state it ends in: the
# arrival-order property runs these against the store (tests/integration/test_lifecycle_property.py)
# and in memory (tests/unit/test_batch.py). Each step names a topic, and which reservation or
# which variant of its payload ("#2", ":wrong-amount").
HISTORIES: dict[str, tuple[list[str], str]] = {
    "untouched": ([], "pending"),
    "paid": (["payment-succeeded"], "paid"),
    "paid and ticketed": (["payment-succeeded", "ticket-issued"], "fulfilled"),
    "paid, two tickets": (["payment-succeeded", "ticket-issued", "ticket-issued#2"], "fulfilled"),
    "payment failed": (["payment-failed"], "cancelled"),
    "reservation expired": (["reservation-expired"], "cancelled"),
    "both reservations expired": (["reservation-expired", "reservation-expired#2"], "cancelled"),
    "payment failed, then expiry": (["payment-failed", "reservation-expired"], "cancelled"),
    "paid the wrong amount": (["payment-succeeded:wrong-amount"], "pending"),
    "wrong amount, then expiry": (["payment-succeeded:wrong-amount", "reservation-expired"], "cancelled"),
    # a payment that failed and was retried: a failure, then a success, on two topics
    "payment failed, then retried": (["payment-failed", "payment-succeeded"], "paid"),
    "failed twice, then retried": (["payment-failed", "payment-failed", "payment-succeeded"], "paid"),
    "failed, retried and ticketed": (["payment-failed", "payment-succeeded", "ticket-issued"], "fulfilled"),
}

"""The platform around the service during an on-sale, shrunk to what the sale needs: the Catalog
(seats and prices, over HTTP), Inventory (one customer at a time per seat, its reservations as
Kafka events), Payment and Fulfillment (answering the service's published events over Kafka).

Inventory, Payment and Fulfillment run on the scenario's event loop: Kafka records reach them
through `call_soon_threadsafe`, so their state needs no lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from bench.onsale.invariants import Grant
from ordering import jsonio
from ordering_local.events import message_key
from ordering_local.kafka import TIMEOUT_S
from tests.support import payment_failed, payment_succeeded, reservation_created, reservation_expired, ticket_issued


@dataclass(frozen=True, slots=True)
class Seat:
    id: str
    section: str
    row: str
    number: str
    price: Decimal
    hot: bool

    @property
    def label(self) -> str:
        return f"{self.section}-{self.row}-{self.number}"


def venue(seats: int, hot_seats: int, rng: random.Random) -> list[Seat]:
    """`seats` seats in rows of 25: the hot block (the front rows, dearer) first."""
    made = []
    for index in range(seats):
        hot = index < hot_seats
        row, number = divmod(index if hot else index - hot_seats, 25)
        made.append(
            Seat(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                section="FRONT" if hot else "FLOOR",
                row=str(row + 1),
                number=str(number + 1),
                price=Decimal("180.00") if hot else Decimal("75.00"),
                hot=hot,
            )
        )
    return made


class Catalog:
    """The platform's Catalog, serving one event's seat map: what the service reads prices from."""

    def __init__(self, event_id: str, event_name: str, seats: list[Seat]) -> None:
        events = [{"id": event_id, "name": event_name}]
        seatmap = {
            "eventId": event_id,
            "eventName": event_name,
            "basePrice": Decimal("75.00"),
            "seats": [
                {"id": seat.id, "sectionCode": seat.section, "rowNumber": seat.row, "seatNumber": seat.number,
                 "price": seat.price, "status": "available"}
                for seat in seats
            ],
        }  # fmt: skip
        answers = {
            "/events": jsonio.dumps(events).encode(),
            f"/events/{event_id}/seatmap": jsonio.dumps(seatmap).encode(),
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = answers.get(self.path.rstrip("/"))
                self.send_response(200 if body else 404)
                data = body or b'{"error": "not found"}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="catalog").start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def seats_of_catalog(catalog_url: str, hot_seats: int) -> tuple[str, list[Seat]]:
    """A stage's Catalog: its first event's seats, the dearest `hot_seats` of them the hot block."""

    def get(path: str) -> Any:
        # an http(s) URL from the command line
        with urllib.request.urlopen(catalog_url.rstrip("/") + path, timeout=10) as response:  # noqa: S310
            return jsonio.loads(response.read())

    event_id = str(get("/events")[0]["id"])
    seatmap = get(f"/events/{event_id}/seatmap")
    base = Decimal(seatmap.get("basePrice") or 0)
    listed = sorted(seatmap["seats"], key=lambda seat: Decimal(seat.get("price") or base), reverse=True)
    return event_id, [
        Seat(str(seat["id"]), str(seat.get("sectionCode") or ""), str(seat.get("rowNumber") or ""),
             str(seat.get("seatNumber") or ""), Decimal(seat.get("price") or base), index < hot_seats)
        for index, seat in enumerate(listed)
    ]  # fmt: skip


class Kafka:
    """One producer for every stand-in, its deliveries served by a thread of its own; each
    record's produce time (wall clock, to compare with the database's timestamps)."""

    def __init__(self, bootstrap_servers: str, topics: dict[str, str], security: dict[str, Any]) -> None:
        self.topics = topics  # the platform's name → this run's
        self._producer = Producer(
            {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all", "linger.ms": 2}
            | security
        )
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="kafka-deliveries")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def _delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.failures.append(str(error))

    def produce(self, topic: str, payload: dict[str, Any]) -> float:
        """Produce `payload` on the platform's `topic`, keyed as its producer keys it; when."""
        key = message_key(topic, payload)
        while True:
            try:
                self._producer.produce(
                    self.topics[topic], value=jsonio.dumps(payload).encode(), key=key, on_delivery=self._delivered
                )
                return time.time()
            except BufferError:  # the client's queue is full: let it send some first
                self._producer.poll(0.05)

    def close(self) -> None:
        self._producer.flush(TIMEOUT_S)
        self._stop.set()
        self._thread.join()


SOLD = "sold"  # what a customer waiting for a seat hears when it is sold to someone else


@dataclass(eq=False)
class Ask:
    """A customer's request for seats: the grants (reservation payloads, or SOLD) arrive on `answers`."""

    customer_id: str
    seat_ids: list[str]
    answers: asyncio.Queue[dict[str, Any] | str] = field(default_factory=asyncio.Queue)
    withdrawn: bool = False


@dataclass
class _Holding:
    reservation: dict[str, Any]
    ask: Ask
    expiry: asyncio.TimerHandle


class Inventory:
    """Each seat granted to one customer at a time, for `lifetime_s`; unsold at its end, the
    reservation expires (reservation-expired) and the seat goes to the next customer of its queue.
    A seat whose order is paid is sold: no expiry, and its queue hears SOLD."""

    def __init__(self, seats: list[Seat], lifetime_s: float, kafka: Kafka) -> None:
        self._seats = {seat.id: seat for seat in seats}
        self._lifetime_s = lifetime_s
        self._kafka = kafka
        self._holding: dict[str, _Holding] = {}
        self._queues: dict[str, deque[Ask]] = {seat.id: deque() for seat in seats}
        self.sold: dict[str, str] = {}  # seat → the reservation it was sold by
        self.grants: dict[str, Grant] = {}  # every reservation granted, with the status its last event gave it
        self.produced_at: dict[str, float] = {}  # reservation → when reservation-created was produced
        self.sold_at: list[float] = []  # when each seat was sold (order-paid seen), wall clock
        self.expired = 0

    def ask(self, customer_id: str, seat_ids: list[str]) -> Ask:
        ask = Ask(customer_id, seat_ids)
        for seat_id in seat_ids:
            if seat_id in self.sold:
                ask.answers.put_nowait(SOLD)
            elif seat_id in self._holding or self._queues[seat_id]:
                self._queues[seat_id].append(ask)
            else:
                self._grant(seat_id, ask)
        return ask

    def withdraw(self, ask: Ask) -> None:
        """The customer stops waiting (its queue places are skipped when their turn comes)."""
        ask.withdrawn = True

    def _grant(self, seat_id: str, ask: Ask) -> None:
        seat = self._seats[seat_id]
        payload = reservation_created(
            customer=ask.customer_id,
            seat=uuid.UUID(seat_id),
            expires_in=dt.timedelta(seconds=self._lifetime_s),
            seat_number=seat.label,
            section=seat.section,
        )
        reservation_id = payload["reservationId"]
        self.produced_at[reservation_id] = self._kafka.produce("reservation-created", payload)
        self.grants[reservation_id] = Grant(reservation_id, seat_id, ask.customer_id, "active")
        expiry = asyncio.get_running_loop().call_later(self._lifetime_s, self._expire, seat_id)
        self._holding[seat_id] = _Holding(payload, ask, expiry)
        ask.answers.put_nowait(payload)

    def _expire(self, seat_id: str) -> None:
        holding = self._holding.pop(seat_id)
        reservation_id = holding.reservation["reservationId"]
        self._kafka.produce("reservation-expired", reservation_expired(holding.reservation))
        self.grants[reservation_id] = Grant(reservation_id, seat_id, holding.ask.customer_id, "expired")
        self.expired += 1
        queue = self._queues[seat_id]
        while queue:
            waiting = queue.popleft()
            if not waiting.withdrawn:
                self._grant(seat_id, waiting)
                return

    def paid(self, reservation_ids: list[str]) -> None:
        """An order of these reservations is paid: the seats they still hold are sold."""
        for reservation_id in reservation_ids:
            grant = self.grants.get(reservation_id)
            holding = self._holding.get(grant.seat_id) if grant else None
            if grant is None or holding is None or holding.reservation["reservationId"] != reservation_id:
                continue  # expired (and maybe granted again) before the payment was seen
            holding.expiry.cancel()
            del self._holding[grant.seat_id]
            self.sold[grant.seat_id] = reservation_id
            self.sold_at.append(time.time())
            for waiting in self._queues.pop(grant.seat_id, deque()):
                if not waiting.withdrawn:
                    waiting.answers.put_nowait(SOLD)
            self._queues[grant.seat_id] = deque()

    def stop(self) -> None:
        """No more expiries: the reservations still held stay active, as their events say."""
        for holding in self._holding.values():
            holding.expiry.cancel()

    @property
    def seats_left(self) -> int:
        return len(self._seats) - len(self.sold)


class PaymentAndFulfillment:
    """Payment answers each order-checked-out (most succeed), Fulfillment each order-paid with a
    ticket; Inventory hears of the sales. The service's events arrive from a reader thread."""

    def __init__(
        self,
        kafka: Kafka,
        inventory: Inventory,
        rng: random.Random,
        *,
        failure_share: float,
        payment_delay_s: Callable[[], float],
        read_order: Callable[[str], Awaitable[dict[str, Any]]],
        customers: str,
    ) -> None:
        self._customers = customers  # the prefix of this sale's customer ids
        self._kafka = kafka
        self._read_order = read_order
        # held, so that none is collected unfinished, and read at the end for their errors
        self.fulfilments: set[asyncio.Task[None]] = set()
        self._inventory = inventory
        self._rng = rng
        self._failure_share = failure_share
        self._payment_delay_s = payment_delay_s
        self._reservations: dict[str, list[str]] = {}  # order → its reservations, from order-checked-out
        self.payment_produced_at: dict[str, tuple[str, float]] = {}  # order → (payment topic, when)
        self.published_seen_at: dict[tuple[str, str], float] = {}  # (order, event type) → when read
        self.tickets = 0

    def on_event(self, event: dict[str, Any]) -> None:
        kind, order_id = event["eventType"], str(event["orderId"])
        self.published_seen_at.setdefault((order_id, kind), time.time())
        if kind == "order-checked-out":
            if not str(event.get("userId") or "").startswith(self._customers):
                return  # not a customer of this sale (a stage serves others too)
            self._reservations[order_id] = [str(i["reservationId"]) for i in event["items"] if i["reservationId"]]
            asyncio.get_running_loop().call_later(self._payment_delay_s(), self._pay, event)
        elif kind == "order-paid" and order_id in self._reservations:
            self._inventory.paid(self._reservations.get(order_id, []))
            self.fulfilments.add(asyncio.get_running_loop().create_task(self._fulfil(order_id)))

    async def _fulfil(self, order_id: str) -> None:
        """As the platform's Fulfillment does: the order read on the internal API (the email to
        send the ticket to), then ticket-issued."""
        order = await self._read_order(order_id)
        ticket = ticket_issued({"id": order_id})
        ticket["customer_email"] = order.get("customerEmail") or ticket["customer_email"]
        self._kafka.produce("ticket-issued", ticket)
        self.tickets += 1

    def _pay(self, event: dict[str, Any]) -> None:
        order = {
            "id": str(event["orderId"]),
            "userId": event.get("userId"),
            "totalAmount": Decimal(event["totalAmount"]),
            "items": [{"reservationId": str(item["reservationId"])} for item in event["items"]],
        }
        fails = self._rng.random() < self._failure_share
        topic = "payment-failed" if fails else "payment-succeeded"
        payload = payment_failed(order) if fails else payment_succeeded(order)
        self.payment_produced_at[str(event["orderId"])] = (topic, self._kafka.produce(topic, payload))


class PublishedReader:
    """The service's published order events from now on (the topics' ends when it starts), read
    by assignment (no group to join), each handed to `deliver` on the event loop."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[dict[str, Any]], None],
        security: dict[str, Any],
    ) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap_servers, "group.id": f"onsale-{uuid.uuid4().hex[:8]}",
             "enable.auto.commit": False, "fetch.wait.max.ms": 10} | security
        )  # fmt: skip
        metadata = self._consumer.list_topics(timeout=TIMEOUT_S)
        missing = [topic for topic in topics if topic not in metadata.topics]
        if missing:
            raise RuntimeError(f"the broker has no topic {', '.join(missing)}: the service publishes there")
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
        ends = [self._consumer.get_watermark_offsets(partition, timeout=TIMEOUT_S) for partition in partitions]
        self._consumer.assign(
            [TopicPartition(tp.topic, tp.partition, high) for tp, (_, high) in zip(partitions, ends, strict=True)]
        )
        self._loop, self._deliver = loop, deliver
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True, name="published-reader")
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.consume(num_messages=500, timeout=0.1):
                error = record.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        self.errors.append(str(error))
                    continue
                event = json.loads(record.value() or b"null", parse_float=Decimal)
                self._loop.call_soon_threadsafe(self._deliver, event)
        self._consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

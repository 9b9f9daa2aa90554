"""The order events: written in the transaction of their change (the outbox), published by the
relay to a real broker, read back from the topics with a plain Kafka consumer."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from ordering.config import settings
from ordering.usecases.relay_outbox import relay, relay_round
from ordering_local import embedded
from ordering_local.kafka import ensure_topics, read_from_start
from tests.support import (
    PUBLISHED_TOPICS,
    USER,
    Service,
    payment_failed,
    payment_succeeded,
    published_topic_environment,
    ticket_issued,
)


class Published:
    """This test's own order topics, and what the relay put on them."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"t{uuid.uuid4().hex[:8]}-"
        ensure_topics(bootstrap, [self.prefix + topic for topic in PUBLISHED_TOPICS])

    def environment(self) -> dict[str, str]:
        """The variables that rename the published topics (the consumed ones keep their names)."""
        return published_topic_environment(self.prefix)

    def producer(self) -> Producer:
        from ordering.published.producer import configuration

        return Producer(configuration())

    def events(self) -> list[dict[str, Any]]:
        """Every event on the topics, each with its topic's platform name."""
        found = list(read_from_start(self.bootstrap, [self.prefix + topic for topic in PUBLISHED_TOPICS]))
        for record in found:
            record["topic"] = record["topic"].removeprefix(self.prefix)
        return found

    def of(self, order_id: str) -> list[dict[str, Any]]:
        """One order's events in their order (one partition holds them all: the key is the order)."""
        mine = [record for record in self.events() if record["key"] == order_id]
        assert len({record["partition"] for record in mine}) <= 1
        return sorted(mine, key=lambda record: record["value"]["version"])


@pytest.fixture
def published(configure: Any, stores: dict[str, str]) -> Published:
    topics = Published(stores["KAFKA_BOOTSTRAP_SERVERS"])
    configure(**topics.environment(), KAFKA_AUTH="none")
    return topics


def _drain(producer: Producer, seconds: float = 5.0) -> None:
    """Relay until the outbox is empty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = relay_round(producer, settings().topic)
        if done.claimed == 0:
            return
    raise AssertionError("the outbox did not drain")


def _outbox(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        return connection.execute(
            "SELECT order_id::text, version, event_type, published_at IS NOT NULL FROM bc_ordering.outbox ORDER BY id"
        ).fetchall()


def test_a_checkout_publishes_order_checked_out_with_the_order(service: Service, published: Published) -> None:
    # Given a signed-in customer's cart of two seats
    cart = service.cart(seats=2)

    # When they check out, and the relay runs
    pending = service.checkout(cart["id"]).body
    _drain(published.producer())

    # Then order-checked-out is on its topic, keyed by the order, with the order as checked out
    [record] = published.of(cart["id"])
    event = record["value"]
    assert record["topic"] == "order-checked-out"
    # money as the API writes it: a number with two places, exact
    assert (str(event["totalAmount"]), [str(item["price"]) for item in event["items"]]) == ("100.00", ["50.00"] * 2)
    assert uuid.UUID(event.pop("eventId"))
    assert dt.datetime.fromisoformat(event.pop("occurredAt"))
    assert event == {
        "eventType": "order-checked-out",
        "orderId": cart["id"],
        "state": "pending",
        "totalAmount": 100.0,
        "version": 1,
        "currency": "USD",
        "owner": "user",
        "userId": USER,
        "items": [
            {"seatId": item["seatId"], "reservationId": item["reservationId"], "price": 50.0,
             "seatNumber": item["seatNumber"], "section": item["section"]}
            for item in pending["items"]
        ],
    }  # fmt: skip


def test_the_whole_lifecycle_publishes_its_events_in_order_with_versions_one_to_n(
    service: Service, published: Published
) -> None:
    # Given an order checked out, paid and fulfilled, and another whose payment failed, then was
    # retried, and a third cancelled by its guest
    order = service.checkout(service.cart()["id"]).body
    service.publish("payment-succeeded", payment_succeeded(order))
    service.publish("ticket-issued", ticket_issued(order))
    retried = service.checkout(service.cart()["id"]).body
    service.publish("payment-failed", payment_failed(retried))
    service.publish("payment-succeeded", payment_succeeded(retried))
    guest = service.cart(guest="guest-token-cancelling")
    cancelled = service.patch(f"/orders/{guest['id']}/cancel", {}, {"X-Guest-Token": "guest-token-cancelling"})
    assert cancelled.status == 200, cancelled.body

    # When the relay runs
    _drain(published.producer())

    # Then each order's events are on the topics, in order, numbered 1..n, with the states they left
    def story(order_id: str) -> list[tuple[Any, ...]]:
        return [
            (r["topic"], r["value"]["version"], r["value"]["state"], r["value"].get("reason"))
            for r in published.of(order_id)
        ]

    assert story(order["id"]) == [
        ("order-checked-out", 1, "pending", None), ("order-paid", 2, "paid", None),
        ("order-fulfilled", 3, "fulfilled", None),
    ]  # fmt: skip
    assert story(retried["id"]) == [
        ("order-checked-out", 1, "pending", None), ("order-cancelled", 2, "cancelled", "payment-failed"),
        ("order-paid", 3, "paid", None),
    ]  # fmt: skip
    assert story(guest["id"]) == [("order-cancelled", 1, "cancelled", "customer")]
    # and no event carries the guest token, nor its hash
    assert "guest-token-cancelling" not in json.dumps(published.events(), default=str)


def test_a_refused_checkout_publishes_nothing(service: Service, published: Published, database_url: str) -> None:
    # Given a cart whose reservation expired
    cart = service.cart(expires_in=dt.timedelta(seconds=1))
    time.sleep(1.1)

    # When its checkout is refused
    assert service.checkout(cart["id"]).error == "Reservation has expired"

    # Then no event was written, and none is published
    assert _outbox(database_url) == []
    _drain(published.producer())
    assert published.events() == []


def test_while_the_broker_is_down_the_api_works_and_the_events_wait_then_all_arrive(
    service: Service, configure: Any, stores: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    # Given a broker of the test's own, which is then stopped
    port = embedded.free_port()
    broker = embedded.start_broker(tmp_path / "kafka", port)
    embedded.wait_for_port(port, "Kafka broker")
    bootstrap = f"127.0.0.1:{port}"
    topics = Published(bootstrap)
    configure(**topics.environment(), KAFKA_AUTH="none", KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    producer = topics.producer()
    broker.kill()
    broker.wait()

    # When customers check out meanwhile, and the relay tries
    orders = [service.checkout(service.cart()["id"]) for _ in range(3)]
    done = relay_round(producer, settings().topic)

    # Then the API answered, nothing was published, and the events wait in the outbox
    assert [reply.status for reply in orders] == [200, 200, 200]
    assert (done.claimed, done.published) == (3, 0)
    assert [row[3] for row in _outbox(database_url)] == [False, False, False]

    # When the broker is back (empty: it keeps nothing), and the relay runs again
    broker = embedded.start_broker(tmp_path / "kafka", port)
    try:
        embedded.wait_for_port(port, "Kafka broker")
        topics = Published(bootstrap)  # its topics, created again
        configure(**topics.environment())
        _drain(topics.producer(), seconds=30)

        # Then every event arrived, once
        assert sorted(record["key"] for record in topics.events()) == sorted(reply.body["id"] for reply in orders)
    finally:
        broker.kill()
        broker.wait()


def _waiting_events(connection: psycopg.Connection[Any], count: int, *, published: bool) -> None:
    connection.execute(
        "INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, occurred_at,"
        " published_at) SELECT gen_random_uuid(), 1, 'order-paid', 'paid', 50.00, now(),"
        " CASE WHEN %s THEN now() END FROM generate_series(1, %s)",
        (published, count),
    )


BACKLOG = 20_000


def test_a_backlog_left_by_a_long_outage_drains_though_the_statistics_saw_nothing_waiting(
    published: Published, database_url: str
) -> None:
    # Given the outbox's statistics taken while nothing waited (its usual state), then a backlog
    # of 20,000 events (the broker away for a while) that no ANALYZE has seen yet
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE bc_ordering.outbox SET (autovacuum_enabled = false)")
        try:
            _waiting_events(connection, 1_000, published=True)
            connection.execute("ANALYZE bc_ordering.outbox")
            _waiting_events(connection, BACKLOG, published=False)

            # When the relay runs, under the service's statement timeout
            _drain(published.producer(), seconds=120)
        finally:
            connection.execute("ALTER TABLE bc_ordering.outbox RESET (autovacuum_enabled)")

        # Then every event of the backlog was published, once
        waiting = connection.execute("SELECT count(*) FROM bc_ordering.outbox WHERE published_at IS NULL").fetchone()
    assert waiting == (0,)
    assert len({record["key"] for record in published.events()}) == BACKLOG


def test_a_relay_that_dies_between_the_acknowledgement_and_the_mark_publishes_again_the_same_event(
    service: Service, published: Published, database_url: str
) -> None:
    # Given an order checked out
    order = service.checkout(service.cart()["id"]).body

    # When a relay publishes its event, the broker acknowledges it, and the relay dies before
    # marking it (its connection gone, so PostgreSQL rolls its transaction back)
    from ordering.published.events import serialised
    from ordering.store import db, outbox
    from ordering.usecases.relay_outbox import payload

    producer = published.producer()
    with db.session() as connection:
        [claimed] = outbox.claim(connection, 10)
        producer.produce(
            settings().topic(claimed.event_type), key=str(claimed.order_id), value=serialised(payload(claimed, "USD"))
        )
        assert producer.flush(10) == 0
    db.discard_connection()

    # and a relay runs again
    _drain(producer)

    # Then the event is on the topic twice, with the same eventId and version: consumers can tell
    first, second = (record["value"] for record in published.of(order["id"]))
    assert (first["eventId"], first["version"]) == (second["eventId"], second["version"]) == (
        first["eventId"], 1,
    )  # fmt: skip
    assert [row[3] for row in _outbox(database_url)] == [True]


class RecordingProducer(Producer):
    """A real producer that notes, in one sequence for all relays, when each event was handed
    to it and when the broker acknowledged it."""

    log: list[tuple[str, str, int]]
    lock = threading.Lock()

    def produce(  # type: ignore[override] # records what it is handed, then hands it on
        self, topic: str, value: str | bytes | None = None, key: str | bytes | None = None, **kwargs: Any
    ) -> None:
        version = json.loads(value or b"{}")["version"]
        acknowledged = kwargs.pop("on_delivery", None)

        def report(error: Any, message: Any) -> None:
            with self.lock:
                self.log.append(("acknowledged", str(key), version))
            if acknowledged is not None:
                acknowledged(error, message)

        with self.lock:
            self.log.append(("produced", str(key), version))
        super().produce(topic, value=value, key=key, on_delivery=report, **kwargs)


def test_two_relays_at_once_keep_every_orders_events_in_order(service: Service, published: Published) -> None:
    # Given 30 orders, each checked out, paid and fulfilled
    orders = [service.checkout(service.cart()["id"]).body for _ in range(30)]
    for order in orders:
        service.publish("payment-succeeded", payment_succeeded(order))
    for order in orders:
        service.publish("ticket-issued", ticket_issued(order))

    # When two relays run at once, each with its own connection and producer
    from ordering.published.producer import configuration

    RecordingProducer.log = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            relay(time.monotonic() + 3.0, RecordingProducer(configuration()))
        except BaseException as exc:
            errors.append(exc)

    relays = [threading.Thread(target=run) for _ in range(2)]
    for thread in relays:
        thread.start()
    for thread in relays:
        thread.join()

    # Then every order's three events were published once each, and each only once the broker
    # had acknowledged the one before it (the topics differ: that is the only order there is)
    assert errors == []
    log = RecordingProducer.log
    for order in orders:
        mine = [(what, version) for what, key, version in log if key == order["id"]]
        assert mine == [
            ("produced", 1), ("acknowledged", 1), ("produced", 2), ("acknowledged", 2),
            ("produced", 3), ("acknowledged", 3),
        ], order["id"]  # fmt: skip
    assert sorted(r["value"]["version"] for r in published.events()) == sorted([1, 2, 3] * 30)


def test_the_relay_function_publishes_for_its_time_and_answers_before_its_deadline(
    service: Service, published: Published, database_url: str
) -> None:
    # Given an order checked out, and the relay function as deployed, with a 6 s timeout
    import dataclasses

    from ordering_local.invoke import invoke

    order = service.checkout(service.cart()["id"]).body
    function = next(f for f in service.functions if f.name == "OutboxRelayFunction")
    started = time.monotonic()

    # When it runs
    totals = invoke(dataclasses.replace(function, timeout_s=6.0), {"source": "aws.scheduler"})

    # Then it relayed until just before its database deadline (6 s less 10 %, less 1 s), and
    # answered, the event published and marked
    assert 4.0 < time.monotonic() - started < 5.4
    assert totals == {"claimed": 1, "published": 1}
    assert [record["key"] for record in published.events()] == [order["id"]]
    assert [row[3] for row in _outbox(database_url)] == [True]

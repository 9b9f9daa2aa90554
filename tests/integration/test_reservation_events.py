"""The reservation-created consumer: MSK batches in, reservations stored, duplicates no-ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from ordering_local.events import Message, msk_event
from tests.support import Service, dead_letters, reservation_created


def _reservations(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT id::text, seat_id::text, status, base_price, seat_number FROM bc_ordering.reservations ORDER BY 1"
        ).fetchall()


def test_a_reservation_is_stored_durably(service: Service, database_url: str) -> None:
    # Given a reservation-created payload
    reservation = reservation_created(base_price="75.50")
    # When its MSK batch is consumed
    response = service.publish("reservation-created", reservation)
    # Then no record failed and the reservation is in PostgreSQL
    assert response == {"batchItemFailures": []}
    [row] = _reservations(database_url)
    assert row[:3] == (reservation["reservationId"], reservation["seatId"], "active")
    assert str(row[3]) == "75.50"


def test_a_redelivered_reservation_changes_nothing(service: Service, database_url: str) -> None:
    # Given a reservation consumed once
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    before = _reservations(database_url)
    # When it is delivered again, alone and twice within one batch
    assert service.publish("reservation-created", reservation, first_offset=7) == {"batchItemFailures": []}
    assert service.publish("reservation-created", reservation, reservation) == {"batchItemFailures": []}
    # Then it is stored once, as it was
    assert _reservations(database_url) == before


def test_bad_records_do_not_hold_up_good_ones(service: Service, database_url: str) -> None:
    # Given a batch with a good record between one that is not JSON and one that breaks the schema
    good = reservation_created()
    messages = [
        Message("reservation-created", b"\xff not json", offset=1),
        Message("reservation-created", good, offset=2),
        Message("reservation-created", {**reservation_created(), "seatId": "not-a-uuid"}, offset=3),
    ]
    # When it is consumed
    response = service.deliver("reservation-created", messages)
    # Then the good one is stored, none is reported for retry, and the bad ones are kept
    assert response == {"batchItemFailures": []}
    assert [row[0] for row in _reservations(database_url)] == [good["reservationId"]]
    assert [(offset, reason) for _, _, offset, _, reason in dead_letters(database_url)] == [
        (1, "value is not JSON"),
        (3, "schema: seatId: uuid_parsing"),
    ]


def test_records_are_reported_for_retry_when_the_database_is_down(service: Service, database_down: None) -> None:
    # Given the database cannot be reached
    reservations = [reservation_created(), reservation_created()]
    # When a batch arrives
    response = service.publish("reservation-created", *reservations, first_offset=40)
    # Then every record is reported as a batch item failure, so Lambda retries them
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": "reservation-created-0", "offset": 40}},
            {"itemIdentifier": {"partition": "reservation-created-0", "offset": 41}},
        ]
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"seatNumber": "VIP\x00A-12"}, "schema: seatNumber: string_nul", id="nul-seat-number"),
        pytest.param({"section": "V" * 65}, "schema: section: string_too_long", id="section-over-64"),
        pytest.param({"seatNumber": "A" * 600_000}, "schema: seatNumber: string_too_long", id="seat-number-600KB"),
        pytest.param({"customerId": "user\x00-123"}, "schema: customerId: string_nul", id="nul-customer-id"),
        pytest.param({"basePrice": "fifty"}, "schema: basePrice: decimal_parsing", id="wrong-type"),
    ],
)
def test_a_record_that_can_never_be_stored_is_set_aside_at_once(
    service: Service, database_url: str, change: dict[str, Any], reason: str
) -> None:
    # Given a record no column can hold, and a good record behind it in the same partition
    bad, good = {**reservation_created(), **change}, reservation_created()
    # When the batch is consumed
    response = service.deliver(
        "reservation-created",
        [Message("reservation-created", bad, offset=1), Message("reservation-created", good, offset=2)],
    )
    # Then nothing is reported for retry: the bad record is a dead letter, the good one is stored
    assert response == {"batchItemFailures": []}
    assert [(offset, why) for _, _, offset, _, why in dead_letters(database_url)] == [(1, reason)]
    assert [row[0] for row in _reservations(database_url)] == [good["reservationId"]]


def test_a_record_the_database_refuses_for_its_value_is_a_dead_letter_not_a_retry(database_url: str) -> None:
    # Given a topic whose records carry a number the consumer hands PostgreSQL as it is, and a
    # batch of a record that PostgreSQL refuses (not a number) between two it takes
    from ordering.consumed.consumer import TopicHandler, consume
    from ordering.store.db import session

    def store(batch: Sequence[tuple[Any, str]]) -> None:
        with session() as connection, connection.transaction():
            for _, text in batch:
                connection.execute("SELECT %s::integer", (text,))

    handler: TopicHandler[str] = TopicHandler(parse=lambda value: (value or b"").decode(), apply=store)
    messages = [Message("texts", text.encode(), offset=n) for n, text in enumerate(["1", "two", "3"])]
    # When the batch is consumed
    response = consume(msk_event(messages), {"texts": handler})
    # Then the refused record is kept as a dead letter at once, and nothing is retried
    assert response == {"batchItemFailures": []}
    assert [(offset, why) for _, _, offset, _, why in dead_letters(database_url)] == [
        (1, "refused by the database: InvalidTextRepresentation")
    ]

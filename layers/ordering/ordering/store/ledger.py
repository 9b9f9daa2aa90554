"""The consumers' durable records: events consumed, dead letters, and order conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from ordering.domain.lifecycle import Conflict
from ordering.redaction import redacted


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an event came from: its topic, partition and offset, and the raw record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    delivery: Delivery
    reason: str


# Batch statements pass their columns as arrays in PostgreSQL's binary format (%b): for a
# thousand rows it is a third of the client's and the server's work of the text format.


def claim(cursor: psycopg.Cursor[Any], topic: str, claims: Sequence[tuple[str, Delivery, UUID | None]]) -> None:
    """Record the events (id, delivery, the order it is for) as consumed. The rows fetched by the
    caller are (event_id, fresh, order_id): the new ones with `fresh` true, and those consumed
    before with the order they were applied to then (null if unknown), so that an id that comes
    again for another order is told apart from a redelivery."""
    cursor.execute(
        "WITH incoming AS ("
        " SELECT * FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::uuid[])"
        "   AS t(event_id, kafka_partition, kafka_offset, order_id)"
        "), claimed AS ("
        " INSERT INTO bc_ordering.consumed_events (topic, event_id, kafka_partition, kafka_offset, order_id)"
        " SELECT %s, * FROM incoming ON CONFLICT DO NOTHING RETURNING event_id"
        ")"
        " SELECT event_id, true AS fresh, NULL::uuid AS order_id FROM claimed"
        " UNION ALL"
        # the statement's snapshot holds the rows consumed before it, not those it claims
        " SELECT e.event_id, false, e.order_id FROM bc_ordering.consumed_events e"
        " WHERE e.topic = %s AND e.event_id IN (SELECT event_id FROM incoming)",
        (
            [event_id for event_id, _, _ in claims],
            [delivery.partition for _, delivery, _ in claims],
            [delivery.offset for _, delivery, _ in claims],
            [order_id for _, _, order_id in claims],
            topic,
            topic,
        ),
    )


def record_dead_letters(cursor: psycopg.Cursor[Any], letters: Sequence[DeadLetter]) -> None:
    """Keep the records with where they came from and why; values are stored redacted (customer
    ids and guest tokens as their keyed hashes)."""
    if not letters:
        return
    cursor.execute(
        "INSERT INTO bc_ordering.dead_letters (topic, kafka_partition, kafka_offset, key, value, reason)"
        " SELECT * FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bytea[], %b::bytea[], %b::text[])"
        " ON CONFLICT ON CONSTRAINT dead_letters_once DO NOTHING",
        (
            [letter.delivery.topic for letter in letters],
            [letter.delivery.partition for letter in letters],
            [letter.delivery.offset for letter in letters],
            [letter.delivery.key for letter in letters],
            [redacted(letter.delivery.value) for letter in letters],
            [letter.reason for letter in letters],
        ),
    )


def record_conflicts(cursor: psycopg.Cursor[Any], conflicts: Sequence[tuple[str, str, Conflict]]) -> None:
    """(topic, event id, conflict) triples; a redelivered event's conflict is recorded once."""
    if not conflicts:
        return
    cursor.execute(
        "INSERT INTO bc_ordering.order_conflicts"
        " (topic, event_id, order_id, kind, resolution, amount, order_total)"
        " SELECT * FROM unnest(%b::text[], %b::text[], %b::uuid[], %b::text[], %b::text[], %b::numeric[],"
        " %b::numeric[])"
        " ON CONFLICT ON CONSTRAINT order_conflicts_once DO NOTHING",
        (
            [topic for topic, _, _ in conflicts],
            [event_id for _, event_id, _ in conflicts],
            [c.order_id for _, _, c in conflicts],
            [c.kind for _, _, c in conflicts],
            [c.resolution for _, _, c in conflicts],
            [c.amount for _, _, c in conflicts],
            [c.order_total for _, _, c in conflicts],
        ),
    )

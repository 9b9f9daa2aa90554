"""The local side of Kafka, with confluent-kafka: the consumed topics created on the broker,
messages produced as the platform's producers send them, and the mappings' committed offsets."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ordering_local.events import message_key

# several partitions, so that ordering, batching and redelivery are per partition as on MSK
PARTITIONS = 3
TIMEOUT_S = 10.0


def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int = PARTITIONS) -> list[str]:
    """Create the topics that are missing; the ones created. A memory-only broker forgets its
    topics when it restarts, so every runner start and every reconnection calls this."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = set(admin.list_topics(timeout=TIMEOUT_S).topics)
    missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
    if not missing:
        return []
    created: list[str] = []
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1) for topic in missing],
        operation_timeout=TIMEOUT_S,
    )
    for topic, future in futures.items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another runner was first
                raise
    return created


@dataclass(frozen=True, slots=True)
class Produced:
    topic: str
    partition: int
    offset: int


def producer(bootstrap_servers: str) -> Producer:
    """An idempotent producer that waits for the broker's acknowledgement, as the platform's do."""
    return Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"})


def produce(
    bootstrap_servers: str,
    topic: str,
    payloads: Sequence[Any],
    *,
    key: str | None = None,
    platform_topic: str | None = None,
    client: Producer | None = None,
) -> list[Produced]:
    """Produce JSON payloads, keyed as their producer keys them (or by `key`); where each landed."""
    sender = client or producer(bootstrap_servers)
    landed: list[Produced] = []
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, message: Any) -> None:
        if error is not None:
            errors.append(error)
        else:
            landed.append(Produced(message.topic(), message.partition(), message.offset()))

    for payload in payloads:
        value = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        record_key = key if key is not None else message_key(platform_topic or topic, payload)
        while True:
            try:
                sender.produce(topic, value=value, key=record_key, on_delivery=delivered)
                break
            except BufferError:  # the client's queue is full: let it send some first
                sender.poll(0.1)
        sender.poll(0)
    if sender.flush(TIMEOUT_S):
        raise RuntimeError(f"the broker at {bootstrap_servers} did not acknowledge every message in {TIMEOUT_S:.0f} s")
    if errors:
        raise RuntimeError(f"the broker refused messages: {errors[0]}")
    return landed


class GroupOffsets:
    """A consumer group's committed offsets (the next record it will handle), read without
    joining the group; one connection for many reads."""

    def __init__(self, bootstrap_servers: str, group: str) -> None:
        self._reader = Consumer(
            {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False}
        )

    def read(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Per partition; -1 where the group has none."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        found = self._reader.committed(wanted, timeout=TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else -1 for tp in found}

    def close(self) -> None:
        self._reader.close()


def committed_offsets(
    bootstrap_servers: str, group: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    offsets = GroupOffsets(bootstrap_servers, group)
    try:
        return offsets.read(partitions)
    finally:
        offsets.close()


def read_from_start(bootstrap_servers: str, topics: Sequence[str], *, follow: bool = False) -> Iterator[dict[str, Any]]:
    """Every record of the topics from their start, in each partition's order; up to the end
    they had when called, or on and on with `follow`. Reads by assignment: no group is joined."""
    reader = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "ordering-local-events",
                       "enable.auto.commit": False, "fetch.wait.max.ms": 10})  # fmt: skip
    try:
        metadata = reader.list_topics(timeout=TIMEOUT_S)
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
        ends: dict[tuple[str, int], int] = {}
        starts = []
        for partition in partitions:
            low, high = reader.get_watermark_offsets(partition, timeout=TIMEOUT_S, cached=False)
            starts.append(TopicPartition(partition.topic, partition.partition, low))
            if high > low:
                ends[(partition.topic, partition.partition)] = high
        reader.assign(starts)
        # Tansu reports a partition's end as its last batch's first offset + 1, short of the
        # batch's other records: past the ends it reported, read on until the topics are quiet
        while True:
            record = reader.poll(0.5)
            if record is None and not follow and not ends:
                break
            if record is None or record.error() is not None:
                continue
            where = (str(record.topic()), int(record.partition() or 0))
            offset = int(record.offset() or 0)
            value = record.value()
            yield {
                "topic": where[0], "partition": where[1], "offset": offset,
                "key": (record.key() or b"").decode(errors="replace"),
                "value": json.loads(value, parse_float=Decimal) if value else None,  # 100.00 stays 100.00
            }  # fmt: skip
            if where in ends and offset + 1 >= ends[where]:
                del ends[where]
    finally:
        reader.close()

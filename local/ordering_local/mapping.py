"""Lambda's MSK event source mapping, emulated for the local runner: one poller per MSK event of
template.yaml, with that event's topics, consumer group, batch size, batching window, starting
position, partial batch responses, retries, bisection and on-failure destination.

What it does, as Lambda does it:
- gathers records until the batch is full or the batching window has passed since the first;
- invokes the function with the MSK event (base64 key and value, headers, timestamps, records
  grouped by `topic-partition`), one invocation at a time per mapping;
- commits a partition's offsets only once the function has returned: past every record when
  it reports no failure; up to the first failed record of a partition when it reports
  `batchItemFailures`; the rest of that partition is fetched again and retried;
- on a function error (it raised, its environment died or timed out), splits the batch in two
  and invokes each half (BisectBatchOnFunctionError), down to the single record that fails;
- retries a failing record MaximumRetryAttempts times (with a growing pause of that partition
  alone, the others go on), then sends it to the on-failure destination (here, a JSON file per
  record, as the S3 destination keeps it once FailureRedactionFunction has replaced its customer
  ids by their keyed hashes) and moves its partition past it.

Where it differs from AWS: one poller per mapping owns every partition of its topics (Lambda
scales pollers and spreads partitions over them; ordering per partition is the same), and it
reads its partitions by assignment rather than by joining the consumer group, whose offsets it
commits all the same.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, KafkaException, TopicPartition

from ordering.redaction import redacted_invocation_record
from ordering_local.environments import FunctionError
from ordering_local.events import Message, msk_event
from ordering_local.kafka import TIMEOUT_S, ensure_topics
from ordering_local.template import Function, KafkaMapping

log = logging.getLogger("local-runner")

Partition = tuple[str, int]
Invoke = Callable[[Function, dict[str, Any]], Any]

RETRY_PAUSE_S = 0.5  # doubled at each retry of the same record, up to RETRY_PAUSE_MAX_S
RETRY_PAUSE_MAX_S = 8.0
HANDLED_LOG_MAX_BYTES = 5_000_000


def handled_log(state: Path, mapping: KafkaMapping) -> Path:
    """Where a mapping writes one line per invocation: the records it covered, the response."""
    return state / "kafka" / "handled" / f"{mapping.consumer_group}.jsonl"


def failures_folder(state: Path, mapping: KafkaMapping) -> Path:
    """The local on-failure destination of a mapping: one JSON file per record given up on."""
    return state / "kafka" / "failures" / mapping.consumer_group


def _message(record: Any) -> Message:
    kind, timestamp = record.timestamp()
    return Message(
        topic=record.topic(),
        value=record.value(),
        key=record.key(),
        partition=record.partition(),
        offset=record.offset(),
        timestamp_ms=timestamp,
        timestamp_type="LOG_APPEND_TIME" if kind == TIMESTAMP_LOG_APPEND_TIME else "CREATE_TIME",
        headers=tuple((name, value or b"") for name, value in (record.headers() or [])),
    )


@dataclass
class _Outcome:
    """What one invocation of part of a batch came to."""

    failed_at: dict[Partition, int]  # per partition, the first record to retry
    response: Any
    error: FunctionError | None = None


@dataclass
class Poller:
    mapping: KafkaMapping
    function: Function
    bootstrap_servers: str
    invoke: Invoke
    state: Path
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    # set when the broker was started again: the mapping reconnects, recreating its topics
    reconnect: threading.Event = field(default_factory=threading.Event)
    # per record given up on or retried: how many times it failed
    _attempts: dict[tuple[str, int, int], int] = field(default_factory=dict)
    _paused_until: dict[Partition, float] = field(default_factory=dict)
    _positioned: bool = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"mapping-{self.mapping.name}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._poll()
            except Exception as exc:
                # the broker restarted or went away: reconnect, recreating the topics
                log.warning("mapping %s: %s; reconnecting", self.mapping.name, exc)
                self.stop.wait(1.0)

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": self.mapping.consumer_group,
                "client.id": f"lambda-esm-{self.mapping.name}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "latest" if self.mapping.starting_position == "LATEST" else "earliest",
                # how long the broker may hold a fetch that found nothing: with librdkafka's 500 ms,
                # a record arriving at an idle Tansu waited ~250 ms to be fetched (bench/RESULTS.md)
                "fetch.wait.max.ms": 10,
            }
        )

    def _poll(self) -> None:
        self.reconnect.clear()
        ensure_topics(self.bootstrap_servers, self.mapping.topics)
        consumer = self._consumer()
        try:
            self._assign(consumer)
            self.ready.set()
            while not self.stop.is_set() and not self.reconnect.is_set():
                self._resume_due(consumer)
                batch = self._gather(consumer)
                if batch:
                    self._deliver(consumer, batch)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> None:
        """Every partition of the topics, at the group's committed offset; where it has none, at
        the starting position, committed at once (as Lambda fixes it when the mapping is made)."""
        metadata = consumer.list_topics(timeout=TIMEOUT_S)
        partitions = [
            TopicPartition(topic, partition)
            for topic in self.mapping.topics
            for partition in sorted(metadata.topics[topic].partitions)
        ]
        starts: list[TopicPartition] = []
        fixed: list[TopicPartition] = []
        # Once positioned, a partition found without a committed offset is one the broker lost
        # (a memory-only broker restarted): all it holds came after, so it is read from the start.
        latest = self.mapping.starting_position == "LATEST" and not self._positioned
        for committed in consumer.committed(partitions, timeout=TIMEOUT_S):
            if committed.offset >= 0:
                starts.append(TopicPartition(committed.topic, committed.partition, committed.offset))
                continue
            low, high = consumer.get_watermark_offsets(
                TopicPartition(committed.topic, committed.partition), timeout=TIMEOUT_S, cached=False
            )
            start = TopicPartition(committed.topic, committed.partition, high if latest else low)
            starts.append(start)
            fixed.append(start)
        if fixed:
            consumer.commit(offsets=fixed, asynchronous=False)
        consumer.assign(starts)
        self._positioned = True
        self._paused_until.clear()
        self._attempts.clear()  # the records retried are fetched again (or gone, with a broker that restarted)

    def _resume_due(self, consumer: Consumer) -> None:
        now = time.monotonic()
        due = [partition for partition, until in self._paused_until.items() if until <= now]
        if due:
            consumer.resume([TopicPartition(topic, number) for topic, number in due])
            for partition in due:
                del self._paused_until[partition]

    def _gather(self, consumer: Consumer) -> list[Message]:
        """Up to BatchSize records: the first as soon as it comes, then as many as arrive within
        the batching window after it."""
        batch = self._records([consumer.poll(0.2)])
        if not batch:
            return batch
        window_ends = time.monotonic() + self.mapping.batching_window_s
        while len(batch) < self.mapping.batch_size and not self.stop.is_set():
            remaining = max(0.0, window_ends - time.monotonic())
            batch += self._records(
                consumer.consume(num_messages=self.mapping.batch_size - len(batch), timeout=remaining)
            )
            if time.monotonic() >= window_ends:
                break
        return batch

    @staticmethod
    def _records(received: list[Any]) -> list[Message]:
        records: list[Message] = []
        for record in received:
            if record is None:
                continue
            error = record.error()
            if error is None:
                records.append(_message(record))
            elif error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
        return records

    def _deliver(self, consumer: Consumer, batch: list[Message]) -> None:
        failed_at: dict[Partition, int] = {}
        done: dict[Partition, int] = {}
        errors: dict[Partition, FunctionError] = {}
        parts: deque[list[Message]] = deque([batch])
        while parts:
            part = [message for message in parts.popleft() if (message.topic, message.partition) not in failed_at]
            if not part:
                continue
            outcome = self._invoke(part)
            if outcome.error is not None and self.mapping.bisect_on_function_error and len(part) > 1:
                half = len(part) // 2
                log.info("mapping %s: function error on %d records, bisecting", self.mapping.name, len(part))
                parts.extendleft([part[half:], part[:half]])
                continue
            for message in part:
                partition = (message.topic, message.partition)
                first_failed = outcome.failed_at.get(partition)
                if first_failed is not None and message.offset >= first_failed:
                    failed_at[partition] = min(failed_at.get(partition, first_failed), first_failed)
                    if outcome.error is not None:
                        errors[partition] = outcome.error
                else:
                    done[partition] = max(done.get(partition, 0), message.offset + 1)
        self._settle(consumer, batch, done, failed_at, errors)

    def _invoke(self, part: list[Message]) -> _Outcome:
        event = msk_event(part, bootstrap_servers=self.bootstrap_servers)
        firsts: dict[Partition, int] = {}
        for message in part:
            firsts.setdefault((message.topic, message.partition), message.offset)
        try:
            response = self.invoke(self.function, event)
        except FunctionError as exc:
            log.warning("mapping %s: %s failed: %s", self.mapping.name, self.function.name, exc)
            self._record(part, {"errorType": exc.error_type, "errorMessage": exc.message})
            return _Outcome(dict(firsts), None, exc)
        self._record(part, response)
        if not self.mapping.report_batch_item_failures:
            return _Outcome({}, response)
        reported = _reported_failures(response, part)
        if reported is None:  # not a valid partial batch response: Lambda retries the whole batch
            log.warning("mapping %s: invalid batch response %r; the batch fails", self.mapping.name, response)
            return _Outcome(dict(firsts), response)
        return _Outcome(reported, response)

    def _settle(
        self,
        consumer: Consumer,
        batch: list[Message],
        done: dict[Partition, int],
        failed_at: dict[Partition, int],
        errors: dict[Partition, FunctionError],
    ) -> None:
        by_offset = {(message.topic, message.partition, message.offset): message for message in batch}
        commits: list[TopicPartition] = []
        rewinds: list[TopicPartition] = []
        for partition in dict.fromkeys((message.topic, message.partition) for message in batch):
            topic, number = partition
            if partition not in failed_at:
                commits.append(TopicPartition(topic, number, done[partition]))
                continue
            offset = failed_at[partition]
            attempt = self._attempts.get((topic, number, offset), 0) + 1
            retries = self.mapping.maximum_retry_attempts
            if 0 <= retries < attempt:
                self._give_up(by_offset[(topic, number, offset)], attempt, errors.get(partition))
                self._attempts.pop((topic, number, offset), None)
                offset += 1
            else:
                self._attempts[(topic, number, offset)] = attempt
                pause = min(RETRY_PAUSE_S * 2 ** (attempt - 1), RETRY_PAUSE_MAX_S)
                self._paused_until[partition] = time.monotonic() + pause
                log.info(
                    "mapping %s: %s-%d offset %d failed (attempt %d), retried in %.1f s",
                    self.mapping.name, topic, number, offset, attempt, pause,
                )  # fmt: skip
            commits.append(TopicPartition(topic, number, offset))
            rewinds.append(TopicPartition(topic, number, offset))
        consumer.commit(offsets=commits, asynchronous=False)
        for rewind in rewinds:
            consumer.seek(rewind)  # what was fetched beyond it comes again
        paused = [TopicPartition(r.topic, r.partition) for r in rewinds if (r.topic, r.partition) in self._paused_until]
        if paused:
            consumer.pause(paused)

    def _give_up(self, message: Message, attempts: int, error: FunctionError | None) -> None:
        """The on-failure destination: the invocation record with the record's MSK event, as the
        S3 destination keeps it (README: Replaying failed batches)."""
        folder = failures_folder(self.state, self.mapping)
        folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        event = msk_event([message], bootstrap_servers=self.bootstrap_servers)
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:local:000000000000:function:{self.function.name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": error.error_type if error else "",
            },
            "version": "1.0",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "KafkaBatchInfo": {
                "batchSize": 1,
                "bootstrapServers": self.bootstrap_servers,
                "recordsInfo": {
                    f"{message.topic}-{message.partition}": {
                        "firstRecordOffset": str(message.offset),
                        "lastRecordOffset": str(message.offset),
                        "firstRecordTimestamp": str(message.timestamp_ms),
                        "lastRecordTimestamp": str(message.timestamp_ms),
                    }
                },
            },
            "payload": event,
        }
        path = folder / f"{now:%Y%m%dT%H%M%S%fZ}-{message.topic}-{message.partition}-{message.offset}.json"
        # as FailureRedactionFunction leaves it on AWS: customer ids only as their keyed hashes
        path.write_text(json.dumps(redacted_invocation_record(document), indent=2))
        log.error(
            "mapping %s: %s-%d offset %d failed %d times; kept in %s, its partition moves on",
            self.mapping.name, message.topic, message.partition, message.offset, attempts, path,
        )  # fmt: skip

    def _record(self, part: list[Message], response: Any) -> None:
        """One line per invocation, for `ordering-local publish` to print what its records got."""
        path = handled_log(self.state, self.mapping)
        path.parent.mkdir(parents=True, exist_ok=True)
        covered: dict[str, list[int]] = {}
        for message in part:
            covered.setdefault(f"{message.topic}-{message.partition}", []).append(message.offset)
        line = {
            "records": {name: [min(offsets), max(offsets)] for name, offsets in covered.items()},
            "response": response,
        }
        if path.is_file() and path.stat().st_size > HANDLED_LOG_MAX_BYTES:
            path.unlink()  # a record of recent invocations, for publish: not a history to keep
        with path.open("a") as handled:
            handled.write(json.dumps(line, default=str) + "\n")


def _reported_failures(response: Any, part: list[Message]) -> dict[Partition, int] | None:
    """Per partition, the first record the function reported failed; None if the response is
    not a valid partial batch response (Lambda then treats the whole batch as failed)."""
    if response is None:
        return {}
    if not isinstance(response, dict):
        return None
    items = response.get("batchItemFailures")
    if items is None:
        return {}
    if not isinstance(items, list):
        return None
    offsets = {(message.topic, message.partition, message.offset) for message in part}
    failed: dict[Partition, int] = {}
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, dict):
            return None
        name, offset = identifier.get("partition"), identifier.get("offset")
        if not isinstance(name, str) or "-" not in name or not isinstance(offset, int):
            return None
        topic, _, number = name.rpartition("-")
        if not number.isdigit() or (topic, int(number), offset) not in offsets:
            return None
        partition = (topic, int(number))
        failed[partition] = min(failed.get(partition, offset), offset)
    return failed

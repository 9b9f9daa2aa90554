"""Records onto the broker as the platform's producers send them, and the service's events off it:
`ordering-local publish` (then waits until the topic's mapping has handled them) and
`ordering-local events`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ordering_local import embedded
from ordering_local.runner import prepare
from ordering_local.template import Function


def read_payloads(file: str) -> list[Any]:
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{file}: not JSON ({exc}); give a payload or an array of payloads") from None
    return document if isinstance(document, list) else [document]


def publish(root: Path, topic: str, payloads: list[Any], *, key: str | None, direct: bool, timeout: float) -> int:
    """`ordering-local publish`: produce the payloads to the topic, keyed as its producer keys
    them, then wait until its mapping has handled them and print the batch responses (exit 1
    after `timeout`); `direct`: invoke the consumer function here instead, with no broker."""
    functions = prepare(root)
    # the topic as configured here, or the platform's name of it (RESERVATION_CREATED_TOPIC may rename it)
    named = topic
    topic = next(
        (
            configured
            for function in functions
            for mapping in function.mappings
            for configured, platform_topic in mapping.platform_topics.items()
            if named in (configured, platform_topic)
        ),
        named,
    )
    found = [(function, mapping) for function in functions for mapping in function.mappings if topic in mapping.topics]
    if not found:
        print(f"no function in template.yaml consumes topic {topic!r}", file=sys.stderr)
        return 2
    if direct:
        return _publish_direct(root, topic, key, payloads, [function for function, _ in found])
    from ordering_local.kafka import GroupOffsets, ensure_topics, produce
    from ordering_local.mapping import handled_log

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics(bootstrap, [topic])
    logs = {mapping.consumer_group: handled_log(embedded.state_folder(root), mapping) for _, mapping in found}
    sizes = {group: path.stat().st_size if path.is_file() else 0 for group, path in logs.items()}
    platform_topic = found[0][1].platform_topics.get(topic, topic)
    landed = produce(bootstrap, topic, payloads, key=key, platform_topic=platform_topic)
    wanted: dict[tuple[str, int], int] = {}
    for record in landed:
        wanted[(record.topic, record.partition)] = max(wanted.get((record.topic, record.partition), -1), record.offset)
    deadline = time.monotonic() + timeout
    for function, mapping in found:
        offsets = GroupOffsets(bootstrap, mapping.consumer_group)
        while True:
            committed = offsets.read(wanted)
            if all(committed[partition] > offset for partition, offset in wanted.items()):
                offsets.close()
                break
            if time.monotonic() > deadline:
                print(
                    f"{mapping.name} has not handled the records within {timeout:g} s (produced at"
                    f" {', '.join(f'{t}-{p}@{o}' for (t, p), o in sorted(wanted.items()))}): is `ordering-local serve`"
                    " (or `consume`) running with this KAFKA_BOOTSTRAP_SERVERS?",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.05)
        for response in _responses(logs[mapping.consumer_group], sizes[mapping.consumer_group], landed):
            print(json.dumps({"function": function.name, "response": response}))
    return 0


def _responses(log: Path, start: int, landed: list[Any]) -> list[Any]:
    """The responses of the invocations, logged since `start`, that covered the records."""
    mine = {(f"{record.topic}-{record.partition}", record.offset) for record in landed}
    found: list[Any] = []
    with log.open() as lines:
        lines.seek(start)
        for line in lines:
            entry = json.loads(line)
            if any(
                (name, offset) in mine
                for name, (first, last) in entry["records"].items()
                for offset in range(first, last + 1)
            ):
                found.append(entry["response"])
    return found


def _publish_direct(root: Path, topic: str, key: str | None, payloads: list[Any], consumers: list[Function]) -> int:
    from ordering_local.events import Message, message_key, msk_event
    from ordering_local.invoke import invoke
    from ordering_local.offsets import next_offsets

    offsets = next_offsets(root, topic, len(payloads))
    event = msk_event(
        Message(topic, payload, key=key or message_key(topic, payload), offset=offset)
        for payload, offset in zip(payloads, offsets, strict=True)
    )
    for function in consumers:
        print(json.dumps({"function": function.name, "response": invoke(function, event)}))
    return 0


def events(root: Path, *, follow: bool) -> int:
    """The order events on the broker, from the start of each topic, a JSON line each."""
    import simplejson

    from ordering.config import settings
    from ordering.published.events import MODELS
    from ordering_local.kafka import ensure_topics, read_from_start

    prepare(root)
    topics = [settings().topic(topic) for topic in MODELS]
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics(bootstrap, topics)
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        for record in read_from_start(bootstrap, topics, follow=follow):
            print(simplejson.dumps(record, use_decimal=True), flush=True)
    return 0

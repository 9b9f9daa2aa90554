"""Kafka offsets for locally published messages: increasing per topic, across commands."""

from __future__ import annotations

import fcntl
from pathlib import Path

from ordering_local.embedded import state_folder


def next_offsets(root: Path, topic: str, count: int) -> list[int]:
    folder = state_folder(root) / "offsets"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{topic}.offset").open("a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        first = int(counter.read().strip() or 0)
        counter.seek(0)
        counter.truncate()
        counter.write(str(first + count))
    return list(range(first, first + count))

"""The embedded servers a checkout starts do not outlive it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from ordering_local import embedded


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a server that ended but whose parent (this test's process) has not reaped it yet
    status = Path(f"/proc/{pid}/status")
    return status.is_file() and "zombie" not in status.read_text()


def test_the_embedded_redis_and_broker_stop_once_their_checkout_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a checkout whose commands started an embedded Redis and Kafka broker
    checkout = tmp_path / "clone"
    checkout.mkdir()
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused")
    found = embedded.services(checkout)
    assert found.redis_url.startswith("redis://127.0.0.1:")
    assert found.kafka_bootstrap_servers.startswith("127.0.0.1:")
    servers = [int((checkout / ".local" / name / "watched-pid").read_text()) for name in ("redis", "kafka")]
    assert all(_alive(pid) for pid in servers)

    # When the checkout is removed
    shutil.rmtree(checkout)

    # Then both servers stop within seconds
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in servers if _alive(pid)]

"""The embedded servers a checkout starts do not outlive it."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
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


def test_the_embedded_servers_stop_once_their_checkout_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a checkout whose commands started an embedded PostgreSQL, Redis and Kafka broker,
    # and a client still connected to its PostgreSQL (a runner left running)
    checkout = Path(tempfile.mkdtemp(prefix="co-", dir="/tmp"))  # short: PostgreSQL's socket lives in it
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", embedded.STATE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    found = embedded.services(checkout)
    assert found.redis_url.startswith("redis://127.0.0.1:")
    assert found.kafka_bootstrap_servers.startswith("127.0.0.1:")
    client = psycopg.connect(found.database_url)
    servers = [int((checkout / ".local" / name / "watched-pid").read_text()) for name in ("postgres", "redis", "kafka")]
    assert all(_alive(pid) for pid in servers)

    # When the checkout is removed
    shutil.rmtree(checkout)

    # Then all three stop within seconds, PostgreSQL without waiting for its client
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    client.close()
    assert not [pid for pid in servers if _alive(pid)]

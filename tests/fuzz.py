"""`make fuzz`: schemathesis runs every operation of openapi.json against the local runner, with
generated inputs and a valid token (so that requests get past identity), and fails on any 500,
any answer the document does not describe, and any stored row a refused request left behind.
Prints schemathesis' summary (operations, cases, failures)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from ordering_local import embedded
from ordering_local.cli import mint_token
from ordering_local.embedded import _free_port

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "ordering_fuzz"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _fuzz_database(server_url: str) -> str:
    """A database of the fuzz run's own, emptied first, so the run touches no one else's data."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{DATABASE}"))


def _wait(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1)  # noqa: S310 - loopback only
            return
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the runner did not start") from None
            time.sleep(0.2)


def main() -> int:
    found = embedded.services(ROOT)
    database_url = _fuzz_database(os.environ.get("DATABASE_URL") or found.database_url)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": os.environ.get("REDIS_URL") or found.redis_url}
    runner = subprocess.Popen(
        # the API only: its mappings would take records from `make run`'s topics
        [sys.executable, "-m", "ordering_local.cli", "serve", "--port", str(port), "--environments", "2", "--no-kafka"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, runner)
        token = mint_token(embedded.jwt_secret(ROOT), "fuzz-user", email="fuzz@example.com")
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")), "run", str(ROOT / "openapi.json"),
                "--url", base, "--header", f"Authorization: Bearer {token}",
                "--checks", CHECKS, "--max-examples", "25", "--seed", "1",
                "--suppress-health-check", "all", "--no-color",
            ],
            cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        runner.terminate()
        runner.wait(timeout=20)
    # The fuzzing customer holds no reservation: every request that would make a cart is refused,
    # so any stored cart is a refused request's leftover. A waitlist order is another matter: the
    # runner serves the internal API on this port too, and a well-formed waitlist request (an
    # address where the document says `format: email`) is placed, 201, in one statement.
    with psycopg.connect(database_url) as connection:
        left = connection.execute(
            "SELECT (SELECT count(*) FROM bc_ordering.orders WHERE origin = 'cart'),"
            " (SELECT count(*) FROM bc_ordering.order_items WHERE order_origin = 'cart')"
        ).fetchone()
    print(f"rows left by refused requests: orders {left[0] if left else '?'}, items {left[1] if left else '?'}")
    if left != (0, 0):
        return 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

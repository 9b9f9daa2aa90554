"""`make fuzz`: schemathesis runs every operation of openapi.json against the local runner, with
generated inputs and a valid token (so that requests get past identity), and fails on any 500,
any answer the document does not describe, and any stored row a refused request left behind.
Prints schemathesis' summary (operations, cases, failures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from ordering_local import embedded
from ordering_local.embedded import free_port
from ordering_local.tokens import mint_token

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


def _document_of(api: str, folder: Path) -> Path:
    """openapi.json with only the operations `api` serves (their `x-apis`), as its own file."""
    document = json.loads((ROOT / "openapi.json").read_text())
    for path, operations in list(document["paths"].items()):
        kept = {
            method: operation
            for method, operation in operations.items()
            if not isinstance(operation, dict) or api in operation.get("x-apis", [])
        }
        if any(isinstance(operation, dict) for operation in kept.values()):
            document["paths"][path] = kept
        else:
            del document["paths"][path]
    written = folder / f"openapi-{api}.json"
    written.write_text(json.dumps(document))
    return written


def main() -> int:
    # the tests' own servers, never those of a `make run` serving beside (tests/conftest.py)
    os.environ.setdefault(embedded.STATE_VARIABLE, str(ROOT / ".local" / "test"))
    found = embedded.services(ROOT)
    database_url = _fuzz_database(os.environ.get("DATABASE_URL") or found.database_url)
    ports = {"public": free_port(), "internal": free_port()}
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": os.environ.get("REDIS_URL") or found.redis_url}
    runner = subprocess.Popen(
        # the APIs only: its mappings would take records from `make run`'s topics
        [sys.executable, "-m", "ordering_local.cli", "serve", "--port", str(ports["public"]),
         "--internal-port", str(ports["internal"]), "--environments", "2", "--no-kafka"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    returncode = 0
    try:
        _wait(f"http://127.0.0.1:{ports['public']}", runner)
        token = mint_token(embedded.jwt_secret(ROOT), "fuzz-user", email="fuzz@example.com")
        with tempfile.TemporaryDirectory() as folder:
            # each API on its own port, as AWS serves them: each with the operations it serves
            for api, port in ports.items():
                document = _document_of(api, Path(folder))
                done = subprocess.run(
                    [
                        str(Path(sys.executable).with_name("schemathesis")), "run", str(document),
                        "--url", f"http://127.0.0.1:{port}", "--header", f"Authorization: Bearer {token}",
                        "--checks", CHECKS, "--max-examples", "25", "--seed", "1",
                        "--suppress-health-check", "all", "--no-color",
                    ],
                    cwd=ROOT, check=False,
                )  # fmt: skip
                returncode = returncode or done.returncode
    finally:
        runner.terminate()
        runner.wait(timeout=20)
    # The fuzzing customer holds no reservation: every request that would make a cart is refused,
    # so any stored cart is a refused request's leftover. A waitlist order is another matter: on
    # the internal API a well-formed waitlist request (an address where the document says
    # `format: email`) is placed, 201, in one statement.
    with psycopg.connect(database_url) as connection:
        left = connection.execute(
            "SELECT (SELECT count(*) FROM bc_ordering.orders WHERE origin = 'cart'),"
            " (SELECT count(*) FROM bc_ordering.order_items WHERE order_origin = 'cart')"
        ).fetchone()
    print(f"rows left by refused requests: orders {left[0] if left else '?'}, items {left[1] if left else '?'}")
    if left != (0, 0):
        return 1
    return returncode


if __name__ == "__main__":
    sys.exit(main())

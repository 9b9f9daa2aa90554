"""A developer runs `make run` all day and `make test` beside it: the tests keep to their own
embedded servers (`.local/test`), and a serving runner recovers from a restart of its broker,
whoever restarted it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ordering_local import embedded
from tests.support import CLI, ROOT, Runner, reservation_created, topic_environment, wait_until


@pytest.fixture
def serving(stores: dict[str, str]) -> Iterator[tuple[Runner, dict[str, str]]]:
    """A runner as `make run` keeps one: its own state folder and embedded broker (the suite's
    PostgreSQL and Redis, a database of the tests' own), consuming the platform's topics."""
    state = Path(tempfile.mkdtemp(prefix="serving-", dir="/tmp"))
    environment = {
        **os.environ,
        **stores,
        embedded.STATE_VARIABLE: str(state),
        **topic_environment("serving-"),
    }
    environment.pop("KAFKA_BOOTSTRAP_SERVERS")  # its own broker, started in its state folder
    runner = Runner(environment, state).start()
    environment["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{(state / 'kafka' / 'port').read_text().strip()}"
    try:
        yield runner, environment
    finally:
        runner.stop()
        shutil.rmtree(state, ignore_errors=True)  # its broker stops with its folder


def _publish_within(environment: dict[str, str], seconds: float) -> subprocess.CompletedProcess[str]:
    """`ordering-local publish` of a reservation, waiting at most `seconds` for the mapping."""
    return subprocess.run(
        [*CLI, "publish", "reservation-created", "-", "--timeout", str(seconds)],
        cwd=ROOT, env=environment, input=json.dumps(reservation_created()), capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def test_the_tests_use_servers_of_their_own(stores: dict[str, str]) -> None:
    # Then the suite's embedded servers live in .local/test, and its broker is not `make run`'s
    assert embedded.state_folder(ROOT) == ROOT / ".local" / "test"
    served = ROOT / ".local" / "kafka" / "port"
    if served.is_file():
        assert stores["KAFKA_BOOTSTRAP_SERVERS"] != f"127.0.0.1:{served.read_text().strip()}"


def test_a_serving_runner_recovers_when_another_command_restarts_its_broker(
    serving: tuple[Runner, dict[str, str]],
) -> None:
    # Given a serving runner, whose embedded broker another command kills and starts again on its
    # port (it keeps nothing: its topics are gone)
    runner, environment = serving
    state = Path(environment[embedded.STATE_VARIABLE])
    os.kill(int((state / "kafka" / "watched-pid").read_text()), signal.SIGKILL)
    wait_until(lambda: not embedded.broker_answers(environment["KAFKA_BOOTSTRAP_SERVERS"]), 10, "the broker stopped")
    again = "from ordering_local import embedded; print(embedded.start_broker_again(embedded.project_root()))"
    started = subprocess.run(
        [sys.executable, "-c", again], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
    )
    assert started.stdout.strip() == environment["KAFKA_BOOTSTRAP_SERVERS"]
    assert embedded.broker_answers(environment["KAFKA_BOOTSTRAP_SERVERS"])

    # When a record is published to it
    done = _publish_within(environment, 15)

    # Then the runner had recreated its topics and reconnected: the record is consumed
    assert done.returncode == 0, done.stdout + done.stderr + runner.log()
    assert "recreated them" in runner.log()


# the nested Kafka suite alone takes ~100 s, longer on a busy machine: past the suite's 120 s default
@pytest.mark.timeout(600)
def test_a_serving_runner_still_consumes_after_the_kafka_suite_ran_beside_it(
    serving: tuple[Runner, dict[str, str]],
) -> None:
    # Given a serving runner, and beside it the tests that stop, kill and restart brokers and
    # runners (the Kafka suite, with the suite's own servers)
    _, environment = serving
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_kafka.py"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert suite.returncode == 0, suite.stdout[-3000:]

    # When a record is published to the serving runner
    done = _publish_within(environment, 5)

    # Then it is consumed within 5 s
    assert done.returncode == 0, done.stdout + done.stderr

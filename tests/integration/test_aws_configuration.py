"""Configuration as it is in AWS: the database user and the JWT key come from Secrets Manager
(faked with moto), are cached across invocations, and are read again after a rotation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

from ordering.config import settings
from ordering.secrets import forget_secrets
from ordering.store.db import discard_connection
from ordering_local.embedded import free_port
from tests.support import JWT_SECRET, Service, bearer


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def aws_configuration(
    stores: dict[str, str], secrets_manager: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The functions configured as template.yaml configures them: host, database and secret ARNs."""
    database = conninfo_to_dict(stores["DATABASE_URL"])
    database_secret = secrets_manager.create_secret(
        Name="rds!cluster-ordering",
        SecretString=json.dumps({"username": database.get("user") or "postgres", "password": "unused-locally"}),
    )["ARN"]
    jwt_secret = secrets_manager.create_secret(Name="identity-signing-key", SecretString=JWT_SECRET)["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("DATABASE_HOST", str(database.get("host") or "127.0.0.1"))
    monkeypatch.setenv("DATABASE_PORT", str(database.get("port") or 5432))
    monkeypatch.setenv("DATABASE_NAME", str(database["dbname"]))
    monkeypatch.setenv("DATABASE_SECRET_ARN", database_secret)
    # as template.yaml sets them (a Unix-domain socket here, where libpq uses no TLS)
    monkeypatch.setenv("DATABASE_SSLMODE", "verify-full")
    monkeypatch.setenv("DATABASE_SSLROOTCERT", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("JWT_SECRET_ARN", jwt_secret)
    settings.cache_clear()
    discard_connection()
    forget_secrets()  # a new execution environment
    yield {"database": database_secret, "jwt": jwt_secret}
    discard_connection()
    forget_secrets()
    monkeypatch.undo()
    settings.cache_clear()


def test_the_functions_run_on_secrets_read_from_secrets_manager(
    service: Service, aws_configuration: dict[str, str]
) -> None:
    # Given a cart created by a function configured as in AWS
    order = service.cart()
    # When its owner reads it with a token signed by the key in Secrets Manager
    reply = service.get(f"/orders/{order['id']}", bearer())
    # Then it is found
    assert reply.status == 200, reply.body
    assert reply.body["id"] == order["id"]
    # over TLS that verifies the proxy's certificate (libpq skips TLS on this Unix socket)
    from ordering.store.db import _conninfo

    used = conninfo_to_dict(_conninfo())
    assert (used["sslmode"], used["sslrootcert"]) == ("verify-full", "/etc/ssl/certs/ca-certificates.crt")


def test_a_rotated_database_user_is_read_again_after_the_login_fails(
    service: Service, aws_configuration: dict[str, str], secrets_manager: Any
) -> None:
    # Given a function that cached the database secret before it was rotated
    from ordering.secrets import secret_json

    current = secret_json(aws_configuration["database"])
    stale = {**current, "username": "rotated_away"}
    forget_secrets()
    secrets_manager.put_secret_value(SecretId=aws_configuration["database"], SecretString=json.dumps(stale))
    secret_json(aws_configuration["database"])  # what it cached
    secrets_manager.put_secret_value(SecretId=aws_configuration["database"], SecretString=json.dumps(current))
    discard_connection()

    # When it next needs the database
    reply = service.get("/orders/00000000-0000-4000-8000-000000000000", bearer())

    # Then the failed login made it read the secret again, and the request went through
    assert (reply.status, reply.error) == (404, "Order not found")
    assert secret_json(aws_configuration["database"])["username"] == current["username"]


def test_a_rotated_signing_key_is_read_again_without_a_cold_start(
    service: Service, aws_configuration: dict[str, str], secrets_manager: Any
) -> None:
    # Given a warm function that verified tokens with the identity service's key
    order = service.cart()
    assert service.get(f"/orders/{order['id']}", bearer()).status == 200

    # When the identity service rotates its key and signs with the new one
    new_key = "the-identity-services-rotated-signing-key-0123456789abcdef0123"
    secrets_manager.put_secret_value(SecretId=aws_configuration["jwt"], SecretString=new_key)
    reply = service.get(f"/orders/{order['id']}", bearer(secret=new_key))

    # Then the token that did not verify made it read the key again, in the same environment
    assert reply.status == 200, reply.body
    # and a token of the old key is now refused
    assert service.get(f"/orders/{order['id']}", bearer()).status == 401


def test_secrets_manager_out_of_reach_is_a_503_not_a_timeout(
    service: Service, aws_configuration: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cold function whose Secrets Manager endpoint does not answer
    forget_secrets()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{free_port()}")
    with mock_aws(config={"core": {"passthrough": {"urls": [r"http://127\.0\.0\.1:.*"]}}}):
        # When a request needs the signing key
        reply = service.get("/orders/00000000-0000-4000-8000-000000000000", bearer())
    # Then the caller is told the service is unavailable (and may retry)
    assert (reply.status, reply.error) == (503, "Service unavailable")

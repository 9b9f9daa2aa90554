"""A Kafka batch Lambda keeps in the failure bucket, whole (customer ids in plain text), is made
what a dead letter is: FailureRedactionFunction rewrites it under redacted/ with customer ids as
their keyed hashes (the key from Secrets Manager) and deletes the original with its versions.
S3 and Secrets Manager are faked with moto; the function is invoked with EventBridge's event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ordering.config import settings
from ordering.secrets import forget_secrets
from ordering_local.events import Message, msk_event
from ordering_local.invoke import invoke
from tests.support import Service, payment_succeeded, reservation_created

BUCKET = "ordering-dev-consumer-failures"
KEY = "aws/lambda/4b1c7e35-aaaa-bbbb-cccc-0123456789ab/reservation-created-0/2026/12/05/2026-12-05T12.00.00-0001"
REDACTION_KEY = "the-redaction-key-generated-by-secrets-manager-0123456789"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="ordering-dev/redaction-key", SecretString=REDACTION_KEY)["ARN"]
        # as template.yaml configures the function: the key's ARN, never the key
        monkeypatch.delenv("REDACTION_SECRET")
        monkeypatch.setenv("REDACTION_SECRET_ARN", arn)
        settings.cache_clear()
        forget_secrets()
        yield {"s3": s3}
        forget_secrets()
    monkeypatch.undo()
    settings.cache_clear()


def _kept_batch(*payloads: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Lambda's on-failure invocation record of a Kafka batch, as the S3 destination keeps it."""
    event = msk_event(Message(topic, payload, offset=n) for n, (topic, payload) in enumerate(payloads))
    return {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
        "version": "1.0",
        "payload": event,
    }


def _redact(service: Service, key: str) -> dict[str, Any]:
    function = next(f for f in service.functions if f.name == "FailureRedactionFunction")
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}},
    }
    result: dict[str, Any] = invoke(function, event)
    return result


def test_a_kept_batch_is_rewritten_with_customer_ids_as_keyed_hashes_and_the_original_is_gone(
    service: Service, aws: dict[str, Any]
) -> None:
    # Given a batch Lambda kept whole: a guest's reservation and a browser's payment
    reservation = reservation_created(customer="guest-secret-token")
    order = {"id": "00000000-0000-4000-8000-000000000001", "totalAmount": "50.00"}
    payment = {**payment_succeeded(order), "customerId": "browser-7f3a"}
    kept = _kept_batch(("reservation-created", reservation), ("reservation-created", payment))
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(kept).encode())

    # When EventBridge tells the function that the object was created
    assert _redact(service, KEY) == {"redacted": f"redacted/{KEY}"}

    # Then the batch is under redacted/, each customer id its HMAC under the configured key, the
    # rest as it was (so it can be replayed)
    redacted = json.loads(s3.get_object(Bucket=BUCKET, Key=f"redacted/{KEY}")["Body"].read())
    records = redacted["payload"]["records"]["reservation-created-0"]
    values = [json.loads(base64.b64decode(record["value"])) for record in records]

    def keyed(customer: str) -> str:
        return "hmac-sha256:" + hmac.new(REDACTION_KEY.encode(), customer.encode(), hashlib.sha256).hexdigest()

    assert values == [
        {**reservation, "customerId": keyed("guest-secret-token")},
        {**payment, "customerId": keyed("browser-7f3a")},
    ]
    assert redacted["requestContext"] == kept["requestContext"]
    # and no version of the original is left, nor any plain customer id in the bucket
    versions = s3.list_object_versions(Bucket=BUCKET)
    assert {v["Key"] for v in versions.get("Versions", [])} == {f"redacted/{KEY}"}
    assert not versions.get("DeleteMarkers")
    body = s3.get_object(Bucket=BUCKET, Key=f"redacted/{KEY}")["Body"].read()
    for secret in (b"guest-secret-token", b"browser-7f3a"):
        assert secret not in body
        assert all(secret not in base64.b64decode(record["value"]) for record in records)


def test_the_redacted_object_and_a_retry_change_nothing(service: Service, aws: dict[str, Any]) -> None:
    # Given a batch redacted once
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(_kept_batch(("reservation-created", reservation_created()))))
    assert _redact(service, KEY)["redacted"] == f"redacted/{KEY}"
    # When EventBridge delivers the original's event again, or the redacted object's own
    again, own = _redact(service, KEY), _redact(service, f"redacted/{KEY}")
    # Then nothing more is done
    assert again == own == {"redacted": None}
    assert [v["Key"] for v in s3.list_object_versions(Bucket=BUCKET)["Versions"]] == [f"redacted/{KEY}"]

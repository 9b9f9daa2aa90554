"""A Kafka batch that exhausted its retries is kept by Lambda in the failure bucket, whole: its
records as they came, customer ids in plain text (a guest token, an anonymous id). This makes it
what the dead letters are: the same document under `redacted/`, customer ids as their keyed
hashes, and the original gone with every version of it (the bucket keeps versions)."""

from __future__ import annotations

import json
from typing import Any

from ordering.redaction import redacted_invocation_record

REDACTED = "redacted/"


def redact_kept_batch(s3: Any, bucket: str, key: str) -> str | None:
    """Redact the object `key` of `bucket` (an S3 client given); returns the redacted object's key,
    or None when there was nothing to do (a redacted object, or one already handled: a retry)."""
    if key.startswith(REDACTED):
        return None
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    document = json.loads(found["Body"].read())
    target = REDACTED + key
    s3.put_object(
        Bucket=bucket,
        Key=target,
        Body=json.dumps(redacted_invocation_record(document)).encode(),
        ContentType="application/json",
        ServerSideEncryption="AES256",
    )
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    for version in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
        if version["Key"] == key:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    return target

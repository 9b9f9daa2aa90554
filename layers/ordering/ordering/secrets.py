"""Secrets Manager reads, cached for the life of the execution environment.

boto3 is imported only here, and only when a secret ARN is configured: functions that run
with plain environment variables (locally, in tests) never pay for importing it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_cache: dict[str, str] = {}
_lock = threading.Lock()


def secret_string(arn: str, *, refresh: bool = False) -> str:
    """The SecretString of `arn`; `refresh` re-reads it (after an authentication failure)."""
    with _lock:
        if refresh or arn not in _cache:
            import boto3

            client: Any = boto3.client("secretsmanager")
            _cache[arn] = client.get_secret_value(SecretId=arn)["SecretString"]
        return _cache[arn]


def secret_json(arn: str, *, refresh: bool = False) -> dict[str, Any]:
    value = json.loads(secret_string(arn, refresh=refresh))
    if not isinstance(value, dict):
        raise ValueError("secret is not a JSON object")
    return value

"""Secrets Manager reads through Powertools' parameters utility: cached for a while, read again
on demand after a rotation, and bounded in time.

boto3 is imported only here, and only when a secret ARN is configured: functions that run
with plain environment variables (locally, in tests) never pay for importing it.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from ordering.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# A rotation reaches every warm function within this time, even one that never fails to verify.
MAX_AGE_S = 300
# A read forced by a failure (a token that does not verify, a refused login) happens at most this
# often: a stream of forged tokens must not become a stream of Secrets Manager calls.
MIN_REFRESH_INTERVAL_S = 30.0

_refreshed_at: dict[str, float] = {}
_lock = threading.Lock()


@cache
def _provider() -> SecretsProvider:
    # boto3 costs 100 ms of cold import (python -X importtime), paid only where a secret is read
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415
    from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415

    # Short waits, few retries: a slow Secrets Manager ends in a 503 while the function still
    # has time to answer, never in API Gateway's 502 after the function's timeout.
    return SecretsProvider(
        boto_config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
    )


def secret_string(arn: str, *, refresh: bool = False) -> str:
    """The SecretString of `arn`, cached for MAX_AGE_S; `refresh` reads it again (after an
    authentication or verification failure), at most once per MIN_REFRESH_INTERVAL_S."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError  # noqa: PLC0415 - as _provider

    force = False
    if refresh:
        with _lock:
            now = time.monotonic()
            if now - _refreshed_at.get(arn, float("-inf")) >= MIN_REFRESH_INTERVAL_S:
                _refreshed_at[arn] = now
                force = True
    try:
        value = _provider().get(arn, max_age=MAX_AGE_S, force_fetch=force)
    except GetParameterError as exc:
        raise ServiceUnavailable("Secrets Manager did not answer") from exc
    if not isinstance(value, str):
        raise ServiceUnavailable("the secret is not a SecretString")
    return value


def secret_json(arn: str, *, refresh: bool = False) -> dict[str, Any]:
    value = json.loads(secret_string(arn, refresh=refresh))
    if not isinstance(value, dict):
        raise ValueError("secret is not a JSON object")
    return value


def forget_secrets() -> None:
    """Drop what is cached (tests; a new execution environment starts this way)."""
    if _provider.cache_info().currsize:
        _provider().clear_cache()  # type: ignore[no-untyped-call]
    _provider.cache_clear()
    _refreshed_at.clear()

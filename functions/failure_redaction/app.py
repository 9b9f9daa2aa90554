"""On every object Lambda writes to the failure bucket (a Kafka batch that exhausted its
retries, kept whole): the same batch under `redacted/`, customer ids as their keyed hashes, and
the original deleted with its versions. EventBridge invokes it for each object created."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.observability import logger
from ordering.usecases.redact_kept_batch import redact_kept_batch


@cache
def _s3() -> Any:
    # at the first invocation, not at import: no function loads boto3 (94 ms) by importing it
    import boto3  # noqa: PLC0415

    return boto3.client("s3")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    redacted = redact_kept_batch(_s3(), bucket, key)
    logger.info("kept batch redacted" if redacted else "nothing to redact", extra={"key": key, "redacted": redacted})
    return {"redacted": redacted}

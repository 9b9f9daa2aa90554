"""CloudFormation custom resources: the response a deploy waits for, PUT to its presigned URL."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Literal

from ordering.observability import logger

Status = Literal["SUCCESS", "FAILED"]


def respond(
    event: dict[str, Any],
    *,
    status: Status,
    physical_resource_id: str,
    reason: str = "",
    data: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Tell CloudFormation how the resource went; a lost answer would hang the deploy for an hour."""
    body = json.dumps(
        {
            "Status": status,
            # CloudFormation caps the whole response at 4 KiB
            "Reason": reason[:1000] or status,
            "PhysicalResourceId": physical_resource_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's presigned S3 URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        logger.info("custom resource response sent", status=status, http_status=response.status)

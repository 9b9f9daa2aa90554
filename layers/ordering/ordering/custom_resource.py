"""CloudFormation custom resources: the answer a deploy waits for, PUT to its presigned URL.

A deploy waits for this answer up to the resource's ServiceTimeout, so every path answers:
the work's success or failure, a failure to import the work, and the function about to time
out. A PUT that fails is tried again. Standard library only, so that it still imports (and
answers) when the rest of the layer does not.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

Status = Literal["SUCCESS", "FAILED"]
log = logging.getLogger("ordering.custom_resource")
# What the function keeps, before its own timeout, to answer FAILED in time.
_TIMEOUT_MARGIN_S = 5.0


class _Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def respond(
    event: Mapping[str, Any],
    *,
    status: Status,
    physical_resource_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
    attempts: int = 3,
    timeout_s: float = 10.0,
) -> None:
    """Tell CloudFormation how the resource went, trying the PUT up to `attempts` times."""
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
            "Data": dict(data or {}),
        }
    ).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's presigned S3 URL
            event["ResponseURL"],
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                log.info("custom resource response sent: %s (HTTP %s)", status, response.status)
                return
        except (urllib.error.URLError, OSError) as exc:
            log.warning("custom resource response not delivered (attempt %d): %s", attempt, exc)
            if attempt == attempts:
                raise
            time.sleep(min(2.0 ** (attempt - 1), 4.0))


def handle(
    event: Mapping[str, Any],
    context: _Context | None,
    work: Callable[[], Mapping[str, str]],
    *,
    physical_resource_id: str,
) -> None:
    """Run `work` (whose result is the resource's Data) and answer once: SUCCESS, FAILED with
    the error, or FAILED shortly before the function would time out."""
    answered = threading.Lock()

    def answer(status: Status, reason: str = "", data: Mapping[str, str] | None = None) -> None:
        if answered.acquire(blocking=False):
            respond(event, status=status, physical_resource_id=physical_resource_id, reason=reason, data=data)

    timer: threading.Timer | None = None
    if context is not None:
        left = context.get_remaining_time_in_millis() / 1000 - _TIMEOUT_MARGIN_S
        timer = threading.Timer(max(left, 0.0), answer, args=("FAILED", "timed out before the work finished"))
        timer.daemon = True
        timer.start()
    try:
        data = work()
    except Exception as exc:
        log.exception("custom resource failed")
        answer("FAILED", f"{type(exc).__name__}: {exc}")
    else:
        answer("SUCCESS", data=data)
    finally:
        if timer is not None:
            timer.cancel()


def answer_import_failure(event: Mapping[str, Any], failure: BaseException, physical_resource_id: str) -> None:
    """The function's code did not import: fail the deploy at once rather than let it wait."""
    respond(
        event,
        status="FAILED",
        physical_resource_id=physical_resource_id,
        reason=f"the function did not import: {type(failure).__name__}: {failure}",
    )

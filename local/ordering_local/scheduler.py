"""EventBridge Scheduler, as far as the runner needs it: the template's scheduled functions (the
outbox relay, the pruning, the Catalog's prices) invoked at their rate, the first run at start,
in execution environments of their own."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from ordering_local.template import Function


def start_schedules(functions: list[Function], stopped: threading.Event) -> tuple[Any, list[str]]:
    """The template's scheduled functions (the outbox relay, the pruning), each invoked at once
    and then at its rate, in execution environments of their own, as EventBridge Scheduler would."""
    from ordering_local.environments import Environments, FunctionError

    scheduled = [(function, period) for function in functions for period in function.schedules]
    environments = Environments([function for function, _ in scheduled], max(1, len(scheduled)))
    log = logging.getLogger("local-runner")

    def run(function: Function, period: float) -> None:
        next_run = time.monotonic()
        while not stopped.is_set():
            try:
                result = environments.invoke(function, {"source": "aws.scheduler", "detail-type": "Scheduled Event"})
                log.info("%s: %s", function.name, json.dumps(result, default=str))
            except FunctionError as exc:
                log.error("%s failed: %s", function.name, exc)
            except Exception:  # the schedule goes on, as EventBridge's would
                log.exception("%s could not be invoked", function.name)
            next_run += period
            stopped.wait(max(0.0, next_run - time.monotonic()))

    for function, period in scheduled:
        threading.Thread(target=run, args=(function, period), daemon=True, name=f"schedule-{function.name}").start()
    return environments, [f"  {function.name:22} every {period:g} s" for function, period in scheduled]

"""Invoke a function's handler in this process, as Lambda would: its module loaded once, then
reused. One invocation at a time per process; for concurrent callers, see environments."""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ordering_local.template import Function

Handler = Callable[[dict[str, Any], Any], Any]

_handlers: dict[str, Handler] = {}


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 10.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def handler(function: Function) -> Handler:
    if function.name not in _handlers:
        spec = importlib.util.spec_from_file_location(f"functions_{function.name}", function.module_path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {function.module_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function.name] = getattr(module, function.handler_name)
    return _handlers[function.name]


def invoke(function: Function, event: dict[str, Any]) -> Any:
    return handler(function)(event, LocalContext(function.name, timeout_s=function.timeout_s))

"""Execution environments as Lambda has them: worker processes, each running one invocation at a
time with its own copy of every function, its own connections, and its own cold start.

Processes, not threads: Lambda never runs two invocations at once in one interpreter, and
libraries rely on it (Powertools' resolvers keep the current event in a class attribute,
shared by every resolver of a process). Threads would let one request read another's event.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ordering_local.template import Function

_functions: dict[str, Function] = {}


def _exit_with(parent: int) -> None:
    """An environment ends when the process that started it does, however that one ended."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _start(functions: list[Function], environment: Mapping[str, str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which stops the pool
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True, name="parent-watch").start()
    os.environ.update(environment)
    _functions.update({function.name: function for function in functions})


def _invoke(function_name: str, event: dict[str, Any]) -> Any:
    from ordering_local.invoke import invoke

    return invoke(_functions[function_name], event)


def _ready() -> int:
    return os.getpid()


class Environments:
    def __init__(self, functions: list[Function], size: int, environment: Mapping[str, str] | None = None) -> None:
        self.size = size
        self._pool = ProcessPoolExecutor(
            max_workers=size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(functions, dict(environment if environment is not None else os.environ)),
        )

    def start_all(self) -> None:
        """Start every environment now rather than on the first requests."""
        for future in [self._pool.submit(_ready) for _ in range(self.size)]:
            future.result()

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        return self._pool.submit(_invoke, function.name, event).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Environments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

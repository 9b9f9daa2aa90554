"""Execution environments as Lambda has them: worker processes, each running one invocation at a
time with its own copy of every function, its own connections, and its own cold start.

Processes, not threads: Lambda never runs two invocations at once in one interpreter, and
libraries rely on it (Powertools' resolvers keep the current event in a class attribute,
shared by every resolver of a process). Threads would let one request read another's event.

An environment that dies (killed, crashed) or runs past its function's timeout is replaced by
a new one, as Lambda does; the invocation it was running fails as a function error.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ordering_local.template import Function

log = logging.getLogger("local-runner")

# what a timed-out invocation is given beyond its function's timeout before its environment is
# killed: the handlers end their own work before the timeout (their deadline), so this is slack
TIMEOUT_GRACE_S = 2.0


class FunctionError(Exception):
    """An invocation that ended without a response: the handler raised, or its environment died
    or timed out. Lambda reports these as a function error (API Gateway answers 502)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


def _exit_with(parent: int) -> None:
    """An environment ends when the process that started it does, however that one ended."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _run(connection: Connection, functions: list[Function], environment: Mapping[str, str]) -> None:
    """An environment's life: load nothing until asked, then one invocation at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which stops the pool
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True, name="parent-watch").start()
    os.environ.update(environment)
    by_name = {function.name: function for function in functions}
    from ordering_local.invoke import invoke

    connection.send(("ready", os.getpid()))
    while True:
        try:
            function_name, event = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("result", invoke(by_name[function_name], event))
        except Exception as exc:
            traceback.print_exc()
            answer = ("error", (type(exc).__name__, str(exc)))
        connection.send(answer)


class _Environment:
    def __init__(self, functions: list[Function], environment: Mapping[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_run, args=(child, functions, dict(environment)), daemon=True, name="lambda-environment"
        )
        self.process.start()
        child.close()

    def ready(self) -> None:
        kind, _ = self.connection.recv()
        assert kind == "ready"

    def call(self, function: Function, event: dict[str, Any]) -> Any:
        self.connection.send((function.name, event))
        if not wait([self.connection, self.process.sentinel], timeout=function.timeout_s + TIMEOUT_GRACE_S):
            self.process.kill()
            self.process.join()
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {function.timeout_s:.2f} seconds")
        try:
            kind, answer = self.connection.recv()
        except (EOFError, OSError):
            self.process.join()
            raise FunctionError("Runtime.ExitError", f"Runtime exited with {self._ended_by()}") from None
        if kind == "error":
            raise FunctionError(*answer)
        return answer

    def _ended_by(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return signal.Signals(-code).name
        return str(code)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Environments:
    def __init__(self, functions: list[Function], size: int, environment: Mapping[str, str] | None = None) -> None:
        self.size = size
        self._functions = functions
        self._environment = dict(environment if environment is not None else os.environ)
        self._idle: queue.SimpleQueue[_Environment | None] = queue.SimpleQueue()
        self._all: list[_Environment] = []
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        self._started = False
        self._closed = False

    def _new(self) -> _Environment:
        environment = _Environment(self._functions, self._environment)
        environment.ready()
        with self._lock:
            self._all.append(environment)
        return environment

    def start_all(self) -> None:
        """Start every environment (before the first invocation, which waits for them)."""
        with self._starting:
            if not self._started:
                for _ in range(self.size):
                    self._idle.put(self._new())
                self._started = True

    def invoke(self, function: Function, event: dict[str, Any]) -> Any:
        """The function's response; FunctionError when it raised, died or timed out."""
        if self._closed:
            raise FunctionError("Runtime.Closed", "the runner is stopping")
        self.start_all()
        # None: a slot whose environment ended; a new one starts for this invocation (a cold start)
        environment: _Environment | None = self._idle.get()
        try:
            if environment is not None and not environment.alive:  # ended while idle (killed)
                self._retire(environment, function, "ended while idle")
                environment = None
            if environment is None:
                environment = self._new()
            return environment.call(function, event)
        except (FunctionError, OSError, EOFError) as exc:
            if environment is not None and not environment.alive:
                self._retire(environment, function, exc)
                environment = None
            if isinstance(exc, FunctionError):
                raise
            raise FunctionError("Runtime.ExitError", "the execution environment ended") from exc
        finally:
            self._idle.put(environment)

    def _retire(self, dead: _Environment, function: Function, cause: Exception | str) -> None:
        with self._lock:
            if dead in self._all:
                self._all.remove(dead)
        dead.connection.close()
        log.warning(
            "execution environment %s ended during %s (%s); a new one replaces it",
            dead.process.pid,
            function.name,
            cause,
        )

    def close(self) -> None:
        self._closed = True
        with self._lock:
            environments = list(self._all)
            self._all.clear()
        for environment in environments:
            environment.stop()

    def __enter__(self) -> Environments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

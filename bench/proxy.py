"""A loopback TCP proxy that delays every chunk by a fixed time each way and counts round trips.

Put in front of PostgreSQL or Redis, it turns loopback into something like Lambda → Aurora in
a VPC (a 1 ms round trip), and it tells how many round trips a request made: a round trip is
counted when the client speaks after the server has answered and after a pause at least as
long as a round trip through the proxy, that is when the client waited for that answer. (A
long pipelined write that the server starts answering before it ends is one round trip.)

It runs in a process of its own, so that the benchmarked code never holds it up (or is held up
by it) for the interpreter lock, and delays with threads and `time.sleep`, which keeps to
tens of microseconds where an event loop's timers round up to the millisecond.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import socket
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any


class _Connection:
    def __init__(self, client: socket.socket, upstream: tuple[str, int] | str, delay: float, trips: Any) -> None:
        family = socket.AF_UNIX if isinstance(upstream, str) else socket.AF_INET
        self.server = socket.socket(family, socket.SOCK_STREAM)
        self.server.connect(upstream)
        for end in (client, self.server):
            if end.family == socket.AF_INET:
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client, self.delay, self.trips = client, delay, trips
        self.lock = threading.Lock()
        self.answered, self.client_last = True, -1.0

    def start(self) -> None:
        for source, target, from_client in ((self.client, self.server, True), (self.server, self.client, False)):
            chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
            threading.Thread(target=self._receive, args=(source, chunks, from_client), daemon=True).start()
            threading.Thread(target=self._deliver, args=(target, chunks), daemon=True).start()

    def _receive(
        self, source: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]], from_client: bool
    ) -> None:
        try:
            while data := source.recv(65536):
                now = time.monotonic()
                with self.lock:
                    if from_client:
                        if self.answered and now - self.client_last >= 2 * self.delay:
                            with self.trips.get_lock():
                                self.trips.value += 1
                            self.answered = False
                        self.client_last = now
                    else:
                        self.answered = True
                chunks.put((now + self.delay, data))
        except OSError:
            pass
        chunks.put((0.0, b""))

    def _deliver(self, target: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    break
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                target.sendall(data)
        except OSError:
            pass
        for end in (self.client, self.server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _serve_forever(upstream: tuple[str, int] | str, delay: float, port: Synchronized, trips: Synchronized) -> None:  # type: ignore[type-arg]
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    port.value = listener.getsockname()[1]
    while True:
        client, _ = listener.accept()
        _Connection(client, upstream, delay, trips).start()


class DelayProxy:
    def __init__(self, upstream: tuple[str, int] | str, one_way_delay_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._port = context.Value("i", 0)
        self._trips = context.Value("q", 0)
        self._process = context.Process(
            target=_serve_forever, args=(upstream, one_way_delay_s, self._port, self._trips), daemon=True
        )

    def __enter__(self) -> DelayProxy:
        self._process.start()
        while not self._port.value:
            if not self._process.is_alive():
                raise RuntimeError("the delay proxy did not start")
            self._process.join(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._process.terminate()
        self._process.join(5)

    @property
    def port(self) -> int:
        return int(self._port.value)

    @property
    def round_trips(self) -> int:
        return int(self._trips.value)

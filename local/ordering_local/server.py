"""Serve the API on 127.0.0.1 as `sam local start-api` would, without Docker: each HTTP request
becomes an API Gateway proxy event for the function whose route matches, invoked in-process.
Each request is invoked in one of a set of execution environments (worker processes, see
environments.py); HTTP connections are handled by a pool of threads that wait on them."""

from __future__ import annotations

import base64
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlsplit

from ordering_local.environments import Environments
from ordering_local.events import api_gateway_event
from ordering_local.template import Function

# not "ordering…": Powertools filters the root handlers to drop records of loggers named after its service
log = logging.getLogger("local-runner")
MAX_REQUEST_BYTES = 1024 * 1024


def _find(functions: list[Function], method: str, path: str) -> tuple[Function, str, dict[str, str]] | None:
    for function in functions:
        for route in function.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return function, route.path, parameters
    return None


class PooledHTTPServer(ThreadingMixIn, HTTPServer):
    """An HTTP server whose connections are handled by a fixed pool of worker threads."""

    daemon_threads = True
    request_queue_size = 256  # many clients connecting at once must not be refused

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], workers: int) -> None:
        super().__init__(address, handler)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="environment")

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        self.pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def make_server(
    functions: list[Function], port: int, environments: Environments, workers: int = 64
) -> PooledHTTPServer:
    api_functions = [function for function in functions if function.routes]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            started = time.perf_counter()
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(413, {"Content-Type": "application/json"}, b'{"error": "Request entity too large"}')
                return
            raw = self.rfile.read(length) if length else b""
            found = _find(api_functions, self.command, url.path)
            if found is None:
                self._reply(404, {"Content-Type": "application/json"}, b'{"error": "Not found"}')
                status = 404
            else:
                function, resource, parameters = found
                try:
                    body: str | bytes | None = raw.decode("utf-8") if raw else None
                except UnicodeDecodeError:
                    body = raw
                event = api_gateway_event(
                    self.command,
                    url.path,
                    resource=resource,
                    path_parameters=parameters,
                    headers=dict(self.headers.items()),
                    query=url.query,
                    body=body,
                )
                result = environments.invoke(function, event)
                status = self._reply_lambda(result)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", self.command, url.path, status, elapsed)

        def _reply_lambda(self, result: dict[str, Any]) -> int:
            headers: dict[str, str] = {}
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers[name] = ", ".join(str(value) for value in values)
            headers.update({name: str(value) for name, value in (result.get("headers") or {}).items()})
            body = result.get("body") or ""
            payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
            status = int(result.get("statusCode", 200))
            self._reply(status, headers, payload)
            return status

        def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is written by _serve

    return PooledHTTPServer(("127.0.0.1", port), Handler, workers)


def routes_table(functions: list[Function]) -> str:
    lines = [
        f"  {route.method:6} {route.path:28} → {function.name}" for function in functions for route in function.routes
    ]
    return "\n".join(lines)

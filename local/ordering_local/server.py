"""Serve the API on 127.0.0.1 as `sam local start-api` would, without Docker: each HTTP request
becomes an API Gateway proxy event for the function whose route matches, invoked in-process.
Each request is invoked in one of a set of execution environments (worker processes, see
environments.py); HTTP connections are handled by a pool of threads that wait on them."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlsplit

from ordering_local.environments import Environments, FunctionError
from ordering_local.events import api_gateway_event
from ordering_local.template import Function, Route

# not "ordering…": Powertools filters the root handlers to drop records of loggers named after its service
log = logging.getLogger("local-runner")
MAX_REQUEST_BYTES = 1024 * 1024


# the headers that say who calls (docs/contract.md); the platform's services send none of them
IDENTITY_HEADERS = frozenset({"authorization", "x-guest-token", "x-user-id"})


def find_route(
    functions: list[Function], method: str, path: str, headers: Iterable[str] = ()
) -> tuple[Function, Route, dict[str, str]] | None:
    """The function and route that serve a request, the public and internal APIs on one port.

    On AWS the two are separate APIs; here a route both serve (GET /orders/{orderId}, PATCH
    /orders/{orderId}/cancel) goes to the public API when the request says who calls, and to the
    internal one when it does not, as the platform's services reach it from their VPC."""
    matches = [
        (function, route, parameters)
        for function in functions
        for route in function.routes
        if (parameters := route.match(method, path)) is not None
    ]
    identified = any(name.lower() in IDENTITY_HEADERS for name in headers)
    matches.sort(key=lambda match: match[1].internal == identified)
    return matches[0] if matches else None


def serves_path(functions: list[Function], path: str) -> bool:
    return any(route.pattern.fullmatch(path) for function in functions for route in function.routes)


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
    functions: list[Function],
    port: int,
    environments: Environments,
    workers: int = 64,
    *,
    cors: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    documents: Mapping[str, tuple[str, bytes]] | None = None,
) -> PooledHTTPServer:
    """`cors`: the preflight headers (origin included) the runner answers OPTIONS with, as
    API Gateway's CORS configuration does before any function is invoked."""
    api_functions = [function for function in functions if function.routes]
    preflight = dict(cors or {})
    # what the runner serves itself: path → (content type, body), e.g. /openapi.json and /docs
    served = dict(documents or {})

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
            found = find_route(api_functions, self.command, url.path, self.headers.keys())
            if found is None and self.command == "GET" and url.path in served:
                content_type, document = served[url.path]
                self._reply(200, {"Content-Type": content_type}, document)
                status = 200
            elif found is None and self.command == "OPTIONS" and preflight and serves_path(api_functions, url.path):
                status = self._preflight(url.path)
            elif found is None:
                self._reply(404, {"Content-Type": "application/json"}, b'{"error": "Not found"}')
                status = 404
            else:
                function, route, parameters = found
                try:
                    body: str | bytes | None = raw.decode("utf-8") if raw else None
                except UnicodeDecodeError:
                    body = raw
                event = api_gateway_event(
                    self.command,
                    url.path,
                    resource=route.path,
                    path_parameters=parameters,
                    stage_variables=route.stage_variables,
                    headers=dict(self.headers.items()),
                    query=url.query,
                    body=body,
                )
                try:
                    result = environments.invoke(function, event)
                except FunctionError as exc:
                    # API Gateway's answer when the function fails without a response
                    log.error("%s failed: %s", function.name, exc)
                    self._reply(502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')
                    status = 502
                else:
                    status = self._reply_lambda(result)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", self.command, url.path, status, elapsed)

        def _preflight(self, path: str) -> int:
            """A browser may send what the public API serves: the request it announces goes to a
            public route. One that would reach an internal route (no identity header announced)
            is refused, so that no page can make the runner cancel an order for it."""
            method = (self.headers.get("Access-Control-Request-Method") or "").upper()
            announced = [name.strip() for name in (self.headers.get("Access-Control-Request-Headers") or "").split(",")]
            target = find_route(api_functions, method, path, announced)
            if target is None or target[1].internal:
                self._reply(403, {"Content-Type": "application/json"}, b'{"error": "Not allowed from a browser"}')
                return 403
            self._reply(200, {**preflight, "Content-Type": "application/json"}, b"{}")
            return 200

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

        def __getattr__(self, name: str) -> Any:
            # any other method (TRACE, QUERY, …): one no route serves is a 404, as API Gateway
            # refuses it, never http.server's 501
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is written by _serve

    return PooledHTTPServer((host, port), Handler, workers)


def routes_table(functions: list[Function]) -> str:
    lines = [
        f"  {route.method:6} {route.path:28} {'internal' if route.internal else 'public':8} → {function.name}"
        for function in functions
        for route in function.routes
    ]
    return "\n".join(lines)

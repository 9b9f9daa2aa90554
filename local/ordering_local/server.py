"""Serve one of the template's APIs on 127.0.0.1 as `sam local start-api` would, without Docker:
each HTTP request becomes an API Gateway proxy event for the function whose route of that API
matches, invoked in one of a set of execution environments (worker processes, environments.py).

One server per API, each on a port of its own, as AWS gives each API an endpoint of its own: the
public API (the template's `Api`) and the private internal one (`InternalApi`) never answer on
one another's port. A thread per connection (http.server's ThreadingHTTPServer): idle keep-alive
connections (a browser keeps several) cost a thread each and hold nothing up; they are closed
after IDLE_S without a request."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ordering_local.environments import Environments, FunctionError
from ordering_local.events import api_gateway_event
from ordering_local.template import Function, Route

# not "ordering…": Powertools filters the root handlers to drop records of loggers named after its service
log = logging.getLogger("local-runner")
MAX_REQUEST_BYTES = 1024 * 1024
# a keep-alive connection without a request for this long is closed (its thread ends)
IDLE_S = 30.0

# the template's two APIs
PUBLIC_API, INTERNAL_API = "Api", "InternalApi"


def find_route(
    functions: list[Function], api: str, method: str, path: str
) -> tuple[Function, Route, dict[str, str]] | None:
    """The function and route of `api` that serve a request."""
    for function in functions:
        for route in function.routes:
            if route.api == api and (parameters := route.match(method, path)) is not None:
                return function, route, parameters
    return None


def _serves_path(functions: list[Function], api: str, path: str) -> bool:
    return any(route.api == api and route.pattern.fullmatch(path) for f in functions for route in f.routes)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connecting at once must not be refused


def make_server(
    functions: list[Function],
    api: str,
    port: int,
    environments: Environments,
    *,
    cors: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    documents: Mapping[str, tuple[str, bytes]] | None = None,
) -> Server:
    """The server of `api`'s routes. `cors`: the preflight headers (origin included) the runner
    answers OPTIONS with, as API Gateway's CORS configuration does before any function is
    invoked. `documents`: what the runner serves itself (path → content type, body)."""
    api_functions = [function for function in functions if any(route.api == api for route in function.routes)]
    preflight = dict(cors or {})
    served = dict(documents or {})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IDLE_S
        # TCP_NODELAY: an answer is written as its headers, then its body; with Nagle's algorithm
        # the body waited for the client's delayed ACK of the headers, ~40 ms on a kept-alive
        # connection (make onsale: 44 ms at the client for 3 ms in the server)
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            started = time.perf_counter()
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(413, {"Content-Type": "application/json"}, b'{"error": "Request entity too large"}')
                return
            raw = self.rfile.read(length) if length else b""
            found = find_route(api_functions, api, self.command, url.path)
            if found is None and self.command == "GET" and url.path in served:
                content_type, document = served[url.path]
                self._reply(200, {"Content-Type": content_type}, document)
                status = 200
            elif found is None and self.command == "OPTIONS" and preflight and _serves_path(functions, api, url.path):
                self._reply(200, {**preflight, "Content-Type": "application/json"}, b"{}")
                status = 200
            elif found is None:
                # API Gateway's answer for a path or method the API has no route for
                self._reply(403, {"Content-Type": "application/json"}, b'{"message": "Missing Authentication Token"}')
                status = 403
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
            log.info("%s %s %s %s %.1fms", api, self.command, url.path, status, elapsed)

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
            # any other method (TRACE, QUERY, …): one no route serves is refused as API Gateway
            # refuses it, never http.server's 501
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is written by _serve

    return Server((host, port), Handler)


def routes_table(functions: list[Function], api: str) -> str:
    return "\n".join(
        f"  {route.method:6} {route.path:28} → {function.name}"
        for function in functions
        for route in function.routes
        if route.api == api
    )

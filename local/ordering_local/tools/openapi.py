"""openapi.json: the OpenAPI 3.1 document of both APIs, generated from the code (each API
function's Powertools resolver, its routes' request models and documented responses), and
marked with the API (public, internal) that serves each operation, as template.yaml wires it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ordering_local.template import Function, load

TITLE = "Ordering service"
VERSION = "1"
DESCRIPTION = (
    "Cart, checkout and the order lifecycle of the ticketing platform. Two APIs: the public one"
    " (clients: the web frontend, signed-in users, guests) and the private internal one (the"
    " platform's services, reachable from the platform's VPC only, no identity needed); each"
    ' operation\'s `x-apis` says which serve it. Error bodies are {"error": message}; the messages'
    " are part of the contract (docs/contract.md)."
)
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# The headers the code reads itself (ordering/http/identity.py, ordering/http/idempotency.py),
# which Powertools therefore does not see as parameters.
_AUTHORIZATION = {
    "name": "Authorization", "in": "header", "required": False,
    "description": "Bearer <JWT> of a signed-in user or a platform service",
    "schema": {"type": "string"},
}  # fmt: skip
_IDENTITY_HEADERS = [
    {
        "name": "X-Guest-Token", "in": "header", "required": False,
        "description": "a guest's token (GET, PATCH, DELETE; POST bodies carry guestToken)",
        "schema": {"type": "string", "maxLength": 256},
    },
    {
        "name": "X-User-Id", "in": "header", "required": False,
        "description": "an anonymous customer id, without a token (GET, PATCH, DELETE; POST bodies carry userId)",
        "schema": {"type": "string", "maxLength": 128},
    },
]  # fmt: skip
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "a retry with the same key and request gets the first answer (Idempotent-Replayed: true)",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}  # fmt: skip


def _headers_read_by_the_code(method: str, path: str) -> list[dict[str, Any]]:
    if path.startswith("/health"):
        return []
    headers = [_AUTHORIZATION]
    if method != "post":
        headers += _IDENTITY_HEADERS
    if method in ("post", "patch", "delete"):
        headers.append(_IDEMPOTENCY_KEY)
    return headers


# the schemas of Powertools' own 422 answers, which this service never gives
_POWERTOOLS_DEFAULTS = frozenset({"HTTPValidationError", "ValidationError", "ResponseValidationError"})


def _schema_of(function: Function) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(f"openapi_{function.name}", function.module_path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {function.module_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = module.app.get_openapi_schema(title=TITLE, version=VERSION)
    document: dict[str, Any] = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
    return document


def generate(root: Path) -> dict[str, Any]:
    functions = [function for function in load(root) if function.routes]
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for function in functions:
        document = _schema_of(function)
        schemas.update(
            {
                name: schema
                for name, schema in document.get("components", {}).get("schemas", {}).items()
                if name not in _POWERTOOLS_DEFAULTS
            }
        )
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in _HTTP_METHODS:
                    continue
                apis = sorted(
                    {
                        "internal" if route.internal else "public"
                        for route in function.routes
                        if route.method.lower() == method and route.path == path
                    }
                )
                # the service answers a malformed request 400 with the contract's body, never
                # Powertools' default 422
                responses = {code: answer for code, answer in operation["responses"].items() if code != "422"}
                parameters = [*operation.get("parameters", []), *_headers_read_by_the_code(method, path)]
                paths.setdefault(path, {})[method] = {
                    **operation,
                    **({"parameters": parameters} if parameters else {}),
                    "responses": responses,
                    "x-apis": apis,
                }
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def text(root: Path) -> str:
    return json.dumps(generate(root), indent=2, sort_keys=False) + "\n"


def write(root: Path) -> bool:
    """Write openapi.json; True when it changed."""
    path = root / "openapi.json"
    fresh = text(root)
    if path.is_file() and path.read_text() == fresh:
        return False
    path.write_text(fresh)
    return True

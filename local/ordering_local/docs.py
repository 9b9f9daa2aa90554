"""What the runner serves beside the public API: the OpenAPI document and Swagger UI, whose
assets come from the swagger-ui-py package (Swagger UI 5, which reads OpenAPI 3.1) installed
with the project, never from a CDN: the page works on a machine with no network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# the assets the page loads, and their media types
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ordering service API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


def _assets_folder() -> Path:
    # found, not imported: the package's own module would import jinja2 for nothing
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is not installed (it comes with `make setup`)")
    return Path(spec.origin).parent / "static"


def documents(root: Path) -> dict[str, tuple[str, bytes]]:
    """Path → (media type, body): /openapi.json, /docs and the assets /docs loads."""
    folder = _assets_folder()
    served = {
        "/openapi.json": ("application/json", (root / "openapi.json").read_bytes()),
        "/docs": ("text/html; charset=utf-8", PAGE.encode()),
    }
    for name, media_type in ASSETS.items():
        served[f"/docs/{name}"] = (media_type, (folder / name).read_bytes())
    return served

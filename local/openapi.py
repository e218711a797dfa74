"""The OpenAPI 3.1 document of the whole API, merged from every routed function's Powertools resolver.

`python -m local.openapi docs/openapi.json` (= `make openapi`) writes it; the local stack serves it at /openapi.json.
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from infra import catalog

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Switchboard API"
SERVERS = [
    {"url": "https://api.switchboard.example", "description": "deployed (behind Cloudflare)"},
    {"url": "http://127.0.0.1:8080", "description": "local stack (make dev)"},
]
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A session token (`sbs_…`) or an API key (`sb_live_…` deployed, `sb_test_…` local/sandbox).",
}


def version() -> str:
    """The project version from pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return str(project["version"])


def _function_schema(function: catalog.Function) -> dict[str, Any]:
    module = importlib.import_module(f"functions.{function.code}.handler")
    schema: dict[str, Any] = json.loads(module.app.get_openapi_json_schema(title=TITLE, version=version()))
    return schema


def document() -> dict[str, Any]:
    """The merged document: only catalog routes (what is deployed), security per route from the catalog."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for function in catalog.FUNCTIONS:
        if not function.routes:
            continue
        schema = _function_schema(function)
        for name, definition in schema.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two functions define the schema {name!r} differently")
        for route in function.routes:
            operation = schema.get("paths", {}).get(route.path, {}).get(route.method.lower())
            if operation is None:
                raise ValueError(f"{function.name} has no handler for {route.method} {route.path}")
            # The catalog, not the handler, decides who may call a route (public routes need no credentials).
            operation["security"] = [] if route.auth is catalog.Auth.PUBLIC else [{"bearer": []}]
            paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": version(),
            "description": "Secure, multi-tenant messaging API. Errors are RFC 9457 application/problem+json.",
        },
        "servers": SERVERS,
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": BEARER}},
        "security": [{"bearer": []}],
    }


def render() -> str:
    """The document as deterministic JSON (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to the path given (default docs/openapi.json)."""
    target = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "openapi.json"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

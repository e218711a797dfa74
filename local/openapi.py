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

from pydantic import BaseModel

from switchboard import api, catalog, files
from switchboard.models.billing import BillingEvent
from switchboard.models.files import FileUploadIn
from switchboard.models.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Switchboard API"
SERVERS = [
    {"url": "https://api.switchboard.example", "description": "deployed (behind Cloudflare)"},
    {"url": "http://127.0.0.1:8080", "description": "local stack (make dev)"},
]
SECURITY_SCHEMES = {
    "session": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sbs_…",
        "description": "A session token from `POST /v1/sessions` (a user; the role decides what it may do).",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sb_live_…",
        "description": "An API key from `POST /v1/api-keys` (`sb_live_…` deployed, `sb_test_…` local and sandbox).",
    },
}
# Which credentials each kind of route accepts (either one of a list satisfies it).
SECURITY: dict[catalog.Auth, list[dict[str, list[str]]]] = {
    catalog.Auth.PUBLIC: [],
    catalog.Auth.SESSION: [{"session": []}],
    catalog.Auth.ANY: [{"session": []}, {"apiKey": []}],
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Same key and body from the same caller within 24 h replays the first answer (`Idempotency-Replay: true`)"
        " once the caller passes the route's checks again (role, session, re-authentication); an answer that showed"
        " a one-time secret is never replayed: 409 `idempotency_secret_shown` with the `id` it created"
        " (docs/idempotency.md)."
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
# Powertools documents FastAPI's validation shapes; our resolver answers every error as a Problem instead.
FOREIGN_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
REF_TEMPLATE = "#/components/schemas/{model}"
# Bodies read raw because their signature covers the exact bytes (the handlers take no body parameter).
RAW_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/billing/events"): {
        "description": "The payment provider's event, verified by its `Stripe-Signature` before it is parsed.",
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BillingEvent"}}},
    },
    # Read raw because the body is either JSON (a presigned upload's announcement) or the file's bytes.
    ("POST", "/v1/files"): {
        "description": (
            "The file's bytes (at most 4 MiB; its type is sniffed from them and must match a declared one), or JSON "
            "announcing a file of up to 16 MiB for a presigned upload (docs/files.md)."
        ),
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/FileUploadIn"}},
            **{
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in (*files.MEDIA_TYPES, files.OCTET_STREAM)
            },
        },
    },
    ("POST", "/v1/carriers/{carrier}/events"): {
        "description": "The carrier's receipt or inbound message as it sends it, verified by its signature first.",
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    },
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


def problem_statuses(route: catalog.Route, operation: dict[str, Any]) -> set[int]:
    """The problem answers any route of this kind can give, wherever it is served (Lambda or gateway)."""
    # Every route: a credential in the URL (400, R27), the firewall (403), an Accept that admits none of its
    # answers (406, R37), the stage throttle (429), and AWS busy for a moment (503, switchboard.api).
    statuses = {400, 403, 406, 429, 503}
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        statuses |= {413, 415, 422}  # too large, not JSON, invalid fields
    if any(p["in"] == "query" for p in parameters):
        statuses.add(422)
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if route.auth is not catalog.Auth.PUBLIC:
        statuses.add(401)
        if route.method == "POST":
            # An Idempotency-Key still in flight or whose answer showed a secret, or reused with another body.
            statuses |= {409, 422}
    return statuses


def _shape(route: catalog.Route, operation: dict[str, Any]) -> dict[str, Any]:
    if (route.method, route.path) in RAW_BODIES:
        operation["requestBody"] = RAW_BODIES[(route.method, route.path)]
    responses: dict[str, Any] = {}
    for status, answer in operation["responses"].items():
        if status == "422" and "application/json" in answer.get("content", {}):
            continue  # FastAPI's `{detail: [...]}`: never sent
        if not answer.get("content"):
            answer.pop("content", None)  # 204 and the like have no body
        responses[status] = answer
    for status in problem_statuses(route, operation):
        responses.setdefault(str(status), api.problem_answer(status))
    operation["responses"] = dict(sorted(responses.items()))
    # The catalog, not the handler, decides who may call a route (public routes need no credentials).
    operation["security"] = SECURITY[route.auth]
    if route.auth is not catalog.Auth.PUBLIC and route.method == "POST":
        operation["parameters"] = [*operation.get("parameters", []), IDEMPOTENCY_KEY]
    return operation


def _model_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        found |= {model.__name__: schema, **schema.pop("$defs", {})}
    return found


def _documented(route: catalog.Route) -> bool:
    return route.auth is not catalog.Auth.OPERATOR and not catalog.in_console(route.path)


def document() -> dict[str, Any]:
    """The merged document: only catalog routes (what is deployed), answers and security completed from the catalog."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = _model_schemas(Problem, BillingEvent, FileUploadIn)
    for function in catalog.FUNCTIONS:
        # The customer API's JSON document: the operator API's routes (Auth.OPERATOR) and the console's HTML pages
        # (catalog.in_console) are not part of its contract.
        documented = [route for route in function.routes if _documented(route)]
        if not documented:
            continue
        schema = _function_schema(function)
        for name, definition in schema.get("components", {}).get("schemas", {}).items():
            if name in FOREIGN_SCHEMAS:
                continue
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two functions define the schema {name!r} differently")
        for route in documented:
            operation = schema.get("paths", {}).get(route.path, {}).get(route.method.lower())
            if operation is None:
                raise ValueError(f"{function.name} has no handler for {route.method} {route.path}")
            paths.setdefault(route.path, {})[route.method.lower()] = _shape(route, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": version(),
            "description": "Secure, multi-tenant messaging API. Errors are RFC 9457 application/problem+json.",
        },
        "servers": SERVERS,
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": SECURITY_SCHEMES},
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

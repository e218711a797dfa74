"""API Gateway request models (JSON Schema draft 4) from the OpenAPI document's request bodies (the pydantic models).

docs/openapi.json is generated from the handlers' pydantic models (`make openapi`, compared by a test); infra reads
it rather than importing the Lambda layer at synth. API Gateway validates with draft 4: no `$ref` to other
documents, no `const`, numeric exclusive bounds as booleans, so each schema is inlined and rewritten here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from infra.paths import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"
DRAFT_4 = "http://json-schema.org/draft-04/schema#"
JSON = "application/json"
REF_PREFIX = "#/components/schemas/"
# Annotations API Gateway ignores at best; OpenAPI-only keywords it rejects at worst. Neither validates anything.
DROPPED = frozenset({"title", "description", "default", "examples", "example", "deprecated", "readOnly", "writeOnly"})
MAX_DEPTH = 32  # the models nest a few levels; anything deeper is a recursive model draft 4 cannot inline


@dataclass(frozen=True)
class RequestModel:
    """The model of one method's JSON body: an alphanumeric name (API Gateway's rule) and its draft-4 schema."""

    name: str
    schema: dict[str, Any]


def draft4(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """`schema` with every `$ref` inlined and 2020-12 keywords rewritten to their draft-4 equivalents."""
    if depth > MAX_DEPTH:
        raise ValueError("a request schema is recursive: draft 4 models cannot inline it")
    if isinstance(schema, list):
        return [draft4(item, components, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return draft4(components[schema["$ref"].removeprefix(REF_PREFIX)], components, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in {"exclusiveMinimum", "exclusiveMaximum"} and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "type" and value == "integer" and "multipleOf" not in schema:
            # Draft 4's `integer` refuses `1.0`, which 2020-12 (the document, the handlers' pydantic) accepts as 1.
            out[key] = "number"
            out["multipleOf"] = 1
        elif key == "properties":
            out[key] = {name: draft4(sub, components, depth + 1) for name, sub in value.items()}
        else:
            out[key] = draft4(value, components, depth + 1)
    return out


def model_for(operation: dict[str, Any], components: dict[str, Any], fallback: str) -> RequestModel | None:
    """The request model of an operation with a JSON body (None without one)."""
    body = operation.get("requestBody")
    if body is None or JSON not in body.get("content", {}):
        return None
    schema = body["content"][JSON]["schema"]
    ref = re.search(re.escape(REF_PREFIX) + r"(\w+)", json.dumps(schema))
    name = ref.group(1) if ref else fallback
    converted: dict[str, Any] = draft4(schema, components)
    if not body.get("required", False):
        # An optional body (the route has a default): an empty object stands for "none" as far as the gateway goes.
        converted = {"anyOf": [converted, {"type": "object", "maxProperties": 0}]}
        name += "Optional"
    return RequestModel(name=re.sub(r"[^A-Za-z0-9]", "", name), schema={"$schema": DRAFT_4, "title": name, **converted})


def request_models(document: dict[str, Any]) -> dict[tuple[str, str], RequestModel]:
    """(METHOD, path) -> model, for every operation of the document with a JSON request body."""
    components = document.get("components", {}).get("schemas", {})
    found: dict[tuple[str, str], RequestModel] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            fallback = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", f"{method} {path}")) + "Body"
            model = model_for(operation, components, fallback)
            if model is not None:
                found[(method.upper(), path)] = model
    return found


@cache
def committed() -> dict[tuple[str, str], RequestModel]:
    """The request models of the committed docs/openapi.json (what synth deploys)."""
    return request_models(json.loads(DOCUMENT.read_text(encoding="utf-8")))

"""Helpers for the file tests: a caller of files_api with raw bodies, sample files, and raw views of the bucket."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import boto3

from functions.files_api import handler as files_api
from local import provision
from switchboard import catalog
from switchboard.carriers import sandbox
from tests.integration.conftest import Context, rest_event

BUCKET = provision.bucket_name(catalog.bucket("Files"))


@dataclass
class Reply:
    """One answer: status, headers (first values) and the body, JSON-decoded when it is JSON, else bytes."""

    status: int
    headers: dict[str, str]
    body: Any = field(default=None)
    raw: bytes = b""


def _template(method: str, path: str) -> str:
    for route in catalog.function("files_api").routes:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$"
        if route.method == method and re.match(pattern, path):
            return route.path
    raise AssertionError(f"files_api serves no {method} {path}")


def call(
    account_id: str,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    content_type: str | None = None,
    role: str = "developer",
    plan: str = "free",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Reply:
    """files_api as API Gateway invokes it once the authorizer allowed an API key of `role` in `account_id`: the
    resource is the route's template, a binary body arrives base64-encoded."""
    event = rest_event(method, path)
    template = _template(method, path)
    event["resource"] = template
    names = re.findall(r"\{([^}]+)\}", template)
    values = [part for part, name in zip(path.split("/"), template.split("/"), strict=True) if name.startswith("{")]
    event["pathParameters"] = dict(zip(names, values, strict=True)) or None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if json_body is not None:
        event["body"] = json.dumps(json_body)
        content_type = content_type or "application/json"
    elif data is not None:
        event["body"] = base64.b64encode(data).decode()
        event["isBase64Encoded"] = True
    for name, value in {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}.items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    event["requestContext"]["authorizer"] = {
        "principalId": "key_test",
        "account_id": account_id,
        "principal": "key_test",
        "role": role,
        "credential": "api_key",
        "session_id": "",
        "key_id": "key_test",
        "plan": plan,
        "mode": "live",
        "auth_at": "",
    }
    result = files_api.lambda_handler(event, Context())
    merged = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    merged.update(result.get("headers") or {})
    text = result.get("body") or ""
    raw = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
    kind = merged.get("Content-Type", "")
    body = json.loads(raw) if raw and "json" in kind else raw
    return Reply(result["statusCode"], merged, body, raw)


def png(payload: bytes = b"") -> bytes:
    """A valid 1x1 PNG, with `payload` in a private ancillary chunk (to make it any size and recognisable)."""
    return sandbox.png(1, 1, payload=payload)


def pdf(text: str = "quarterly numbers") -> bytes:
    """A minimal PDF carrying `text`."""
    return f"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n% {text}\ntrailer<<>>\n%%EOF\n".encode()


def versions(prefix: str = "") -> list[dict[str, Any]]:
    """Every object version and delete marker in the Files bucket under `prefix`."""
    s3 = boto3.client("s3")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
        found += page.get("Versions", []) + page.get("DeleteMarkers", [])
    return found


def raw_objects() -> list[bytes]:
    """The stored bytes of every version of every object in the Files bucket (a raw scan, as S3 holds them)."""
    s3 = boto3.client("s3")
    return [
        s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        for v in versions()
        if "Size" in v  # a delete marker has no body
    ]

"""The shared resolver: problem+json for every error, validation pointers, size and media-type limits, headers."""

import base64
import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from switchboard import api, catalog
from switchboard.models.errors import Conflict, RateLimited
from tests.lambda_context import Context

SECURITY = {"Strict-Transport-Security", "X-Content-Type-Options", "Cache-Control", "Content-Security-Policy"}


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(pattern=r"^\+[1-9]\d{7,14}$")
    body: str = Field(max_length=10)


# Routes of a test app declare their policy like the catalog's (an undeclared handler is refused).
app = api.build_resolver(
    routes=[
        catalog.Route("POST", "/v1/things", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/conflict", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/limited", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/boom", catalog.Auth.PUBLIC, "test route", permission=None),
    ]
)


@app.post("/v1/things")
def create_thing(thing: Thing) -> dict[str, str]:
    return {"to": thing.to}


@app.get("/v1/conflict")
def conflict() -> None:
    raise Conflict("It exists.", code="thing_exists", extra={"existing_id": "thg_1"})


@app.get("/v1/limited")
def limited() -> None:
    raise RateLimited("Slow down.", retry_after_s=7)


@app.get("/v1/boom")
def boom() -> None:
    raise RuntimeError("secret arn:aws:dynamodb:eu-west-1:123:table/x at /var/task/handler.py")


def call(
    method: str,
    path: str,
    body: str | None = None,
    content_type: str = "application/json",
    *,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": content_type},
        "multiValueHeaders": {"Content-Type": [content_type]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"requestId": "req-123", "stage": "live", "identity": {"sourceIp": "203.0.113.9"}},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }
    return api.handle(app, event, Context())  # type: ignore[arg-type]


def headers(result: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in result["multiValueHeaders"].items()}


def test_validation_errors_are_422_problems_with_pointers() -> None:
    result = call("POST", "/v1/things", json.dumps({"to": 123, "body": "x" * 11, "extra": 1}))
    body = json.loads(result["body"])
    assert result["statusCode"] == 422
    assert headers(result)["Content-Type"] == "application/problem+json"
    assert body["code"] == "validation_failed"
    assert body["status"] == 422
    assert body["request_id"] == "req-123"
    assert {"/to", "/body", "/extra"} <= {e["pointer"] for e in body["errors"]}


def test_malformed_json_is_400_invalid_json() -> None:
    result = call("POST", "/v1/things", "{not json")
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["code"] == "invalid_json"


def test_domain_error_keeps_code_extra_members_and_headers() -> None:
    result = call("GET", "/v1/conflict")
    assert result["statusCode"] == 409
    assert json.loads(result["body"])["existing_id"] == "thg_1"
    assert json.loads(result["body"])["code"] == "thing_exists"
    limited_result = call("GET", "/v1/limited")
    assert limited_result["statusCode"] == 429
    assert headers(limited_result)["Retry-After"] == "7"


def test_unexpected_error_is_a_generic_500_without_internals() -> None:
    result = call("GET", "/v1/boom")
    body = json.loads(result["body"])
    assert result["statusCode"] == 500
    assert set(body) == {"type", "title", "status", "detail", "code", "request_id", "instance"}
    assert "arn:aws" not in result["body"]
    assert "/var/task" not in result["body"]
    assert "Traceback" not in result["body"]


def test_body_over_64_kib_is_413_before_any_handler_runs() -> None:
    result = call("POST", "/v1/things", json.dumps({"to": "+15551234567", "body": "x" * 70_000}))
    assert result["statusCode"] == 413
    assert json.loads(result["body"])["code"] == "payload_too_large"


@pytest.mark.parametrize("raw", [b'{"to": "\xe2\x28\xa1"}', b"\xff\xfe{\x00}\x00", b"\x80"])
def test_non_utf8_body_is_a_400_problem_not_a_500(raw: bytes) -> None:
    # API Gateway hands a body it cannot read as text to the Lambda base64-encoded.
    result = call("POST", "/v1/things", base64.b64encode(raw).decode(), base64_encoded=True)
    assert result["statusCode"] == 400
    assert headers(result)["Content-Type"] == "application/problem+json"
    assert json.loads(result["body"])["code"] == "invalid_encoding"


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400_problem_not_a_500(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    result = call("POST", "/v1/things", opening * 5000 + "1" + closing * 5000)
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["code"] == "invalid_json"


def test_nesting_depth_counts_structure_not_brackets_inside_strings() -> None:
    assert not api.too_deep(json.dumps({"to": "[" * 500, "body": "{" * 500}))
    assert not api.too_deep("[" * api.MAX_JSON_DEPTH + "]" * api.MAX_JSON_DEPTH)
    assert api.too_deep("[" * (api.MAX_JSON_DEPTH + 1) + "]" * (api.MAX_JSON_DEPTH + 1))
    assert not api.too_deep(json.dumps({"a": 'x\\"' + "[" * 50}))


def test_base64_encoded_utf8_json_body_still_reaches_the_route() -> None:
    body = json.dumps({"to": "+15551234567", "body": "héllo"}).encode()
    result = call("POST", "/v1/things", base64.b64encode(body).decode(), base64_encoded=True)
    assert result["statusCode"] == 200, result["body"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_non_json_body_is_415(content_type: str) -> None:
    result = call("POST", "/v1/things", "to=1", content_type=content_type)
    assert result["statusCode"] == 415
    assert json.loads(result["body"])["code"] == "unsupported_media_type"


@pytest.mark.parametrize("path", ["/v1/things", "/v1/boom", "/v1/nowhere"])
def test_every_response_carries_security_headers_and_request_id(path: str) -> None:
    result = call("GET", path)
    found = headers(result)
    assert set(found) >= SECURITY
    assert found["X-Request-Id"] == "req-123"
    assert found["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_unknown_route_is_a_404_problem() -> None:
    result = call("GET", "/v1/nowhere")
    assert result["statusCode"] == 404
    assert json.loads(result["body"])["code"] == "not_found"

"""The same request answers alike through the local gateway and when a test feeds the handler the event directly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.public_api import handler
from tests.e2e.conftest import LocalStack
from tests.integration.conftest import Context, aws, rest_event

pytestmark = pytest.mark.e2e
__all__ = ["aws"]  # the integration tests' moto fixture, reused here for the direct handler call


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def direct(path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    result = handler.lambda_handler(rest_event(method, path), Context())
    headers = {k: v[-1] for k, v in result["multiValueHeaders"].items()}
    headers.update(result.get("headers") or {})
    return result["statusCode"], headers, result["body"]


@pytest.mark.parametrize("path", ["/v1/health", "/status", "/.well-known/security.txt"])
def test_local_answer_matches_the_handler_fed_directly(stack: LocalStack, aws: dict[str, str], path: str) -> None:
    status, headers, body = direct(path)
    answer = stack.request("GET", path)
    assert answer.status == status
    for name, value in headers.items():
        if name != "X-Request-Id":  # each side has its own request id
            assert answer.headers[name] == value, name
    assert answer.headers["X-Request-Id"] != headers["X-Request-Id"]
    if headers["Content-Type"] == "application/json":
        assert shape(answer.json()) == shape(json.loads(body))
    else:
        field_names = [line.split(":")[0] for line in body.splitlines()]
        assert [line.split(":")[0] for line in answer.text.splitlines()] == field_names


def test_local_unknown_route_matches_the_handlers_own_not_found(stack: LocalStack, aws: dict[str, str]) -> None:
    # The gateway answers routes it does not know; a handler answers the same problem for a path it lacks.
    status, headers, body = direct("/v1/unknown")
    answer = stack.request("GET", "/v1/unknown")
    assert answer.status == status == 404
    assert answer.headers["Content-Type"] == headers["Content-Type"] == "application/problem+json"
    local, handled = answer.json(), json.loads(body)
    for key in ("type", "title", "status", "detail", "code"):
        assert local[key] == handled[key], key
    assert local["request_id"] == answer.headers["X-Request-Id"]
    assert set(local) <= set(handled)


def test_local_console_page_matches_the_console_handler_fed_directly(stack: LocalStack, aws: dict[str, str]) -> None:
    # The console's answers (HTML, its own headers, a Set-Cookie per cookie) pass through the gateway unchanged.
    from functions.console import handler as console  # noqa: PLC0415

    result = console.lambda_handler(rest_event("GET", "/console/login"), Context())
    answer = stack.request("GET", "/console/login")
    assert answer.status == result["statusCode"] == 200
    for name, value in result["headers"].items():
        if name != "X-Request-Id":
            assert answer.headers[name] == value, name
    (cookie,) = result["multiValueHeaders"]["Set-Cookie"]
    assert answer.headers["Set-Cookie"].split("=")[0] == cookie.split("=")[0] == "__Host-sb_presession"
    assert answer.headers["Set-Cookie"].split(";")[1:] == cookie.split(";")[1:]
    assert "<h1>Sign in</h1>" in answer.text and "<h1>Sign in</h1>" in result["body"]

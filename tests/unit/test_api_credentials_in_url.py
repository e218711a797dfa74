"""api.handle refuses credentials in the URL first, on every route, before body checks and the handler run (R27)."""

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from switchboard import api, catalog
from tests.lambda_context import Context

ran: list[str] = []


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


# Routes of a test app declare their policy like the catalog's (an undeclared handler is refused).
app = api.build_resolver(
    routes=[
        catalog.Route("POST", "/v1/public-things", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/public-things", catalog.Auth.PUBLIC, "test route", permission=None),
    ]
)


@app.post("/v1/public-things")
def create_thing(thing: Thing) -> dict[str, str]:
    ran.append(thing.name)
    return {"name": thing.name}


@app.get("/v1/public-things")
def list_things() -> dict[str, list[str]]:
    ran.append("list")
    return {"data": []}


def _event(
    method: str,
    *,
    body: str | None = None,
    query: dict[str, str] | None = None,
    authorizer: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": "req-1", "identity": {"sourceIp": "198.51.100.7"}}
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {
        "resource": "/v1/public-things",
        "path": "/v1/public-things",
        "httpMethod": method,
        "headers": {"Content-Type": content_type},
        "multiValueHeaders": {"Content-Type": [content_type]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": False,
    }


def _refused(result: dict[str, Any]) -> None:
    assert result["statusCode"] == 400
    body = json.loads(result["body"])
    assert (body["code"], body["request_id"]) == ("credentials_in_url", "req-1")
    assert result["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    assert result["multiValueHeaders"]["X-Request-Id"] == ["req-1"]
    assert result["multiValueHeaders"]["Cache-Control"] == ["no-store"]


@pytest.mark.parametrize(
    "query",
    [{"api_key": "x"}, {"token": "anything"}, {"q": "sbs_abcdef"}, {"x": "sb_live_key_abc"}, {"Access_Token": "t"}],
)
def test_handle_refuses_credentials_in_url_on_a_public_route(query: dict[str, str]) -> None:
    ran.clear()
    _refused(api.handle(app, _event("GET", query=query), Context()))  # type: ignore[arg-type]
    assert ran == []


def test_handle_refuses_credentials_in_url_before_an_invalid_body() -> None:
    ran.clear()
    invalid = _event("POST", body='{"nope": ', query={"api_key": "x"})
    _refused(api.handle(app, invalid, Context()))  # type: ignore[arg-type]
    oversized = _event("POST", body="x" * (api.MAX_BODY_BYTES + 1), query={"api_key": "x"}, content_type="text/csv")
    _refused(api.handle(app, oversized, Context()))  # type: ignore[arg-type]
    assert ran == []


def test_handle_turns_the_authorizers_refusal_into_400() -> None:
    ran.clear()
    refusal = {"principalId": "anonymous", "account_id": "", "principal": "", "refusal": "credentials_in_url"}
    _refused(api.handle(app, _event("POST", body='{"name": "a"}', authorizer=refusal), Context()))  # type: ignore[arg-type]
    assert ran == []


def test_handle_lets_ordinary_query_strings_through() -> None:
    ran.clear()
    result = api.handle(app, _event("GET", query={"limit": "10", "cursor": "ZXZ0OjE"}), Context())  # type: ignore[arg-type]
    assert result["statusCode"] == 200
    assert ran == ["list"]

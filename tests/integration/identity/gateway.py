"""A catalog-driven gateway for tests: any route → the authorizer (unless public) → the function that serves it."""

from __future__ import annotations

import base64
import importlib
import json
import re
from dataclasses import dataclass
from typing import Any

from switchboard import catalog
from tests.integration.conftest import Context, rest_event
from tests.integration.identity.support import PASSWORD, Answer, authorizer_event, last_token


@dataclass(frozen=True)
class Target:
    """The catalog route a request matched, and the function that serves it."""

    route: catalog.Route
    function: catalog.Function


def template_pattern(template: str) -> re.Pattern[str]:
    """The path regex of a catalog route template."""
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


def match(method: str, path: str) -> Target:
    """The most specific catalog route for `method` and `path` (literal segments beat parameters)."""
    candidates = [
        (route.path.count("{"), Target(route, fn))
        for route, fn in catalog.routes()
        if route.method == method and template_pattern(route.path).match(path)
    ]
    if not candidates:
        raise AssertionError(f"no catalog route for {method} {path}")
    return min(candidates, key=lambda c: c[0])[1]


def _handler(function_name: str) -> Any:
    return importlib.import_module(f"functions.{function_name}.handler").lambda_handler


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    ip: str = "198.51.100.7",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw: str | None = None,
    data: bytes | None = None,
) -> Answer:
    """What API Gateway does with one request: authorizer for non-public routes (401 when it refuses), then the
    function the catalog names for the route. `data`: a binary body (base64 in the event, as for the API's binary
    media types; give its Content-Type in `headers`); a base64 answer's body is its bytes."""
    target = match(method, path)
    event = rest_event(method, path, raw if raw is not None else (json.dumps(body) if body is not None else None))
    if data is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    event["requestContext"]["identity"]["sourceIp"] = ip
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if token is not None:
        event["headers"]["Authorization"] = f"Bearer {token}"
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if target.route.auth is not catalog.Auth.PUBLIC:
        auth_event = authorizer_event(method, path, token, query)
        auth_event["requestContext"]["identity"]["sourceIp"] = ip
        try:
            decision = _handler(catalog.AUTHORIZER)(auth_event, Context())
        except Exception as error:
            assert str(error) == "Unauthorized"
            return Answer(401, {}, {"code": "unauthorized"})
        event["requestContext"]["authorizer"] = {"principalId": decision["principalId"], **decision["context"]}
    result = _handler(target.function.name)(event, Context())
    merged = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    merged.update(result.get("headers") or {})
    content = result.get("body")
    if result.get("isBase64Encoded"):
        return Answer(result["statusCode"], merged, base64.b64decode(content or ""))
    return Answer(result["statusCode"], merged, json.loads(content) if content else None)


def register(email: str, account_name: str = "Acme Widgets", password: str = PASSWORD) -> None:
    """Sign up and verify the e-mail: a new account whose owner is `email`."""
    signup = {"email": email, "password": password, "account_name": account_name}
    assert call("POST", "/v1/signup", signup).status == 202
    assert call("POST", "/v1/email-verifications", {"token": last_token(email)}).status == 200


def login(email: str, password: str = PASSWORD) -> str:
    """A new session token."""
    answer = call("POST", "/v1/sessions", {"email": email, "password": password})
    assert answer.status == 201, answer.body
    token: str = answer.body["token"]
    return token


def add_member(owner_token: str, email: str, role: str, password: str = PASSWORD) -> str:
    """Invite `email` with `role` and accept the e-mailed invitation; returns the new user id."""
    invited = call("POST", "/v1/members", {"email": email, "role": role}, token=owner_token)
    assert invited.status == 201, invited.body
    joined = call("POST", "/v1/invitations/accept", {"token": last_token(email), "password": password})
    assert joined.status == 201, joined.body
    user_id: str = joined.body["user_id"]
    return user_id

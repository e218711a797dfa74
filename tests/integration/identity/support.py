"""Helpers for identity tests: a gateway-like caller (authorizer, then handler) and the SES outbox."""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.authorizer import handler as authorizer_handler
from functions.identity_api import handler as identity_handler
from switchboard import catalog
from tests.integration import mailbox
from tests.integration.conftest import Context, rest_event

PASSWORD = "lantern quasar velvet plumbing"
API_ID = "abc123"


@dataclass
class Answer:
    """One HTTP answer as a client sees it."""

    status: int
    headers: dict[str, str]
    body: Any = field(default=None)


def _public(method: str, path: str) -> bool:
    for route, _ in catalog.routes():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$"
        if route.method == method and re.match(pattern, path):
            return route.auth is catalog.Auth.PUBLIC
    return False


def authorizer_event(method: str, path: str, token: str | None, query: dict[str, str] | None = None) -> dict[str, Any]:
    """A REQUEST authorizer event as API Gateway sends it."""
    event = rest_event(method, path)
    event["type"] = "REQUEST"
    event["methodArn"] = f"arn:aws:execute-api:eu-west-1:123456789012:{API_ID}/live/{method}{path}"
    if token is not None:
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    event["queryStringParameters"] = query
    return event


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    ip: str = "198.51.100.7",
    query: dict[str, str] | None = None,
) -> Answer:
    """What the gateway does: the authorizer for non-public routes (401 on refusal), then the handler."""
    event = rest_event(method, path, json.dumps(body) if body is not None else None)
    event["requestContext"]["identity"]["sourceIp"] = ip
    event["queryStringParameters"] = query
    if token is not None:
        event["headers"]["Authorization"] = f"Bearer {token}"
    if not _public(method, path):
        auth_event = authorizer_event(method, path, token, query)
        auth_event["requestContext"]["identity"]["sourceIp"] = ip
        try:
            decision = authorizer_handler.lambda_handler(auth_event, Context())
        except Exception as error:
            assert str(error) == "Unauthorized"
            return Answer(401, {}, {"code": "unauthorized"})
        event["requestContext"]["authorizer"] = {"principalId": decision["principalId"], **decision["context"]}
    result = identity_handler.lambda_handler(event, Context())
    headers = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    headers.update(result.get("headers") or {})
    raw = result.get("body")
    return Answer(result["statusCode"], headers, json.loads(raw) if raw else None)


def outbox() -> list[Any]:
    """Every e-mail SES accepted, oldest first (mail_worker first sends what requests queued)."""
    mailbox.drain()
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages)


def mails_to(address: str) -> list[Any]:
    """E-mails sent to one address, oldest first."""
    return [m for m in outbox() if address in m.destinations["ToAddresses"]]


def last_token(address: str) -> str:
    """The token of the newest e-mailed link to `address`."""
    for message in reversed(mails_to(address)):
        match = re.search(r"\?token=([A-Za-z0-9_-]+)", message.body)
        if match:
            return match.group(1)
    raise AssertionError(f"no link was e-mailed to {address}")


def signup(email: str, password: str = PASSWORD, account_name: str = "Acme Widgets") -> Answer:
    """POST /v1/signup."""
    return call("POST", "/v1/signup", {"email": email, "password": password, "account_name": account_name})


def register(email: str, password: str = PASSWORD, account_name: str = "Acme Widgets") -> None:
    """Sign up and verify the e-mail."""
    assert signup(email, password, account_name).status == 202
    assert call("POST", "/v1/email-verifications", {"token": last_token(email)}).status == 200


def login(email: str, password: str = PASSWORD, ip: str = "198.51.100.7", **extra: str) -> Answer:
    """POST /v1/sessions."""
    return call("POST", "/v1/sessions", {"email": email, "password": password, **extra}, ip=ip)


def session(email: str, password: str = PASSWORD, **extra: str) -> str:
    """A new session token of a registered user."""
    answer = login(email, password, **extra)
    assert answer.status == 201, answer.body
    token: str = answer.body["token"]
    return token

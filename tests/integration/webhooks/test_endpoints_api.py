"""Webhook endpoint routes through the handler: permissions, tenant isolation, limits, URL rules, secrets, audit."""

import base64
import json
from typing import Any

import boto3
import pytest

from functions.webhooks_api import handler
from switchboard import clock
from switchboard.crypto import envelope
from switchboard.logic import audit, webhooks
from switchboard.models.webhooks import DeliveryJob
from switchboard.webhook_client import Answer
from tests.integration.conftest import Context, rest_event
from tests.integration.webhooks.conftest import Callbacks, add_endpoint

HOOK = "http://127.0.0.1:8099/hook"


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    account_id: str = "acct_a",
    role: str = "developer",
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The handler with the authorizer's context, as the gateway passes it on."""
    event = rest_event(method, path, json.dumps(body) if body is not None else None)
    event["headers"]["Content-Type"] = "application/json"
    event["queryStringParameters"] = query
    event["requestContext"]["authorizer"] = {
        "principalId": "usr_1",
        "account_id": account_id,
        "principal": "usr_1",
        "role": role,
        "credential": "session",
        "session_id": "ses_1",
        "key_id": "",
        "plan": "pro",
        "mode": "test",
        "auth_at": "",
    }
    result = handler.lambda_handler(event, Context())
    raw = result.get("body")
    return result["statusCode"], json.loads(raw) if raw else None


@pytest.fixture
def accounts(aws: dict[str, str]) -> None:
    envelope.create_key("acct_a")
    envelope.create_key("acct_b")


def test_create_endpoint_returns_the_secret_once(accounts: None, aws: dict[str, str]) -> None:
    status, created = call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.status"]})
    assert status == 201, created
    assert created["id"].startswith("whe_")
    assert created["secret"].startswith("whsec_")
    # 32 random bytes in standard base64: the form Standard Webhooks libraries decode (R42)
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"), validate=True)) == 32
    assert created["url"] == HOOK
    assert created["events"] == ["message.status"]
    assert created["created_at"].endswith("Z")

    status, listed = call("GET", "/v1/webhook-endpoints")
    assert status == 200
    assert listed["data"] == [{k: v for k, v in created.items() if k != "secret"}]
    assert created["secret"] not in json.dumps(listed)
    # Stored sealed: the raw table never holds the secret.
    raw = json.dumps(boto3.client("dynamodb").scan(TableName=aws["ACCOUNTS_TABLE"])["Items"])
    assert created["secret"] not in raw
    assert created["secret"][6:] not in raw

    [event] = audit.list_events("acct_a").data
    assert event.type == "webhook_endpoint.created"


def test_delete_endpoint_answers_204_and_audits(accounts: None) -> None:
    _, created = call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.inbound"]})
    status, body = call("DELETE", f"/v1/webhook-endpoints/{created['id']}")
    assert (status, body) == (204, None)
    assert call("GET", "/v1/webhook-endpoints")[1]["data"] == []
    assert call("DELETE", f"/v1/webhook-endpoints/{created['id']}")[0] == 404
    assert [e.type for e in audit.list_events("acct_a").data] == [
        "webhook_endpoint.deleted",
        "webhook_endpoint.created",
    ]


def test_other_accounts_endpoints_are_not_found(accounts: None) -> None:
    _, created = call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.status"]})
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert call("DELETE", path, account_id="acct_b")[0] == 404
    assert call("GET", f"{path}/deliveries", account_id="acct_b")[0] == 404
    assert call("GET", "/v1/webhook-endpoints", account_id="acct_b")[1]["data"] == []
    assert call("GET", f"{path}/deliveries")[0] == 200


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_roles_without_the_permission_are_forbidden(accounts: None, role: str) -> None:
    assert call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.status"]}, role=role)[0] == 403
    assert call("GET", "/v1/webhook-endpoints", role=role)[0] == 403


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_roles_with_the_permission_may_manage(accounts: None, role: str) -> None:
    assert call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.status"]}, role=role)[0] == 201


def test_at_most_ten_endpoints(accounts: None) -> None:
    for n in range(10):
        assert call("POST", "/v1/webhook-endpoints", {"url": f"{HOOK}/{n}", "events": ["message.status"]})[0] == 201
    status, problem = call("POST", "/v1/webhook-endpoints", {"url": HOOK, "events": ["message.status"]})
    assert (status, problem["code"]) == (422, "limit_exceeded")


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"url": "https://10.0.0.5/", "events": ["message.status"]}, "invalid_webhook_url", "/url"),
        ({"url": "http://192.168.0.10:8080/", "events": ["message.status"]}, "invalid_webhook_url", "/url"),
        ({"url": "https://169.254.169.254/", "events": ["message.status"]}, "invalid_webhook_url", "/url"),
        ({"url": "https://u:p@127.0.0.1/", "events": ["message.status"]}, "invalid_webhook_url", "/url"),
        ({"url": HOOK, "events": ["message.deleted"]}, "validation_failed", "/events/0"),
        ({"url": HOOK, "events": []}, "validation_failed", "/events"),
        ({"url": HOOK}, "validation_failed", "/events"),
        ({"url": HOOK, "events": ["message.status"], "secret": "mine"}, "validation_failed", "/secret"),
    ],
)
def test_bad_endpoints_are_refused_with_422(accounts: None, body: dict[str, Any], code: str, pointer: str) -> None:
    status, problem = call("POST", "/v1/webhook-endpoints", body)
    assert status == 422, problem
    assert problem["code"] == code
    assert pointer in [e["pointer"] for e in problem["errors"]]


def test_delivery_log_pages_newest_first(accounts: None, callbacks: Callbacks) -> None:
    add_endpoint("acct_a", "whe_1", HOOK, {"message.status"})
    job = DeliveryJob(
        account_id="acct_a", endpoint_id="whe_1", event_id="evt_1", event_type="message.status", sealed_event="x"
    )
    for attempt in range(1, 4):
        clock.advance(1)  # attempts are at least a second apart; the log's order follows time
        webhooks._log(
            job, attempt, Answer(500, None, 12), outcome="failed", at=1_700_000_000 + attempt, next_retry_at=None
        )

    status, page = call("GET", "/v1/webhook-endpoints/whe_1/deliveries", query={"limit": "2"})
    assert status == 200
    assert [d["attempt"] for d in page["data"]] == [3, 2]
    assert page["data"][0] == {
        "event_id": "evt_1",
        "type": "message.status",
        "attempt": 3,
        "status_code": 500,
        "outcome": "failed",
        "error": None,
        "duration_ms": 12,
        "at": "2023-11-14T22:13:23Z",
        "next_retry_at": None,
    }
    status, rest = call(
        "GET", "/v1/webhook-endpoints/whe_1/deliveries", query={"limit": "2", "cursor": page["next_cursor"]}
    )
    assert [d["attempt"] for d in rest["data"]] == [1]
    assert rest["next_cursor"] is None
    assert (
        call("GET", "/v1/webhook-endpoints/whe_1/deliveries", query={"cursor": "bogus"})[1]["code"] == "invalid_cursor"
    )
    assert call("GET", "/v1/webhook-endpoints/whe_1/deliveries", query={"limit": "0"})[0] == 422

"""Webhook endpoints over HTTP against the local stack, as a customer sets them up."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

PASSWORD = "lantern quasar velvet plumbing"


def _session(stack: LocalStack) -> dict[str, str]:
    """Sign up, verify through the outbox, log in: the Authorization header of a new account's owner."""
    email = f"hooks-{secrets.token_hex(4)}@example.com"
    assert (
        stack.request("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": "Hooks"}).status
        == 202
    )
    mail = next(m for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": mail["token"]}).status == 200
    login = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD})
    assert login.status == 201, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_webhook_endpoint_lifecycle_over_http(stack: LocalStack) -> None:
    auth = _session(stack)
    url = "http://127.0.0.1:8099/hook"  # a developer's own machine: allowed by the local stack only
    created = stack.request(
        "POST", "/v1/webhook-endpoints", {"url": url, "events": ["message.status", "message.inbound"]}, headers=auth
    )
    assert created.status == 201, created.text
    endpoint = created.json()
    assert endpoint["id"].startswith("whe_")
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["events"] == ["message.inbound", "message.status"]
    assert created.headers["Cache-Control"] == "no-store"

    listed = stack.request("GET", "/v1/webhook-endpoints", headers=auth)
    assert listed.status == 200
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
    assert endpoint["secret"] not in listed.text

    log = stack.request("GET", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=auth)
    assert (log.status, log.json()) == (200, {"data": [], "next_cursor": None})

    assert stack.request("DELETE", f"/v1/webhook-endpoints/{endpoint['id']}", headers=auth).status == 204
    assert stack.request("GET", "/v1/webhook-endpoints", headers=auth).json()["data"] == []
    assert stack.request("DELETE", f"/v1/webhook-endpoints/{endpoint['id']}", headers=auth).status == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "https://10.0.0.5/", "events": ["message.status"]}, 422, "invalid_webhook_url"),
        ({"url": "https://169.254.169.254/latest", "events": ["message.status"]}, 422, "invalid_webhook_url"),
        ({"url": "https://[::ffff:10.0.0.1]/", "events": ["message.status"]}, 422, "invalid_webhook_url"),
        ({"url": "https://user:pw@127.0.0.1/", "events": ["message.status"]}, 422, "invalid_webhook_url"),
        ({"url": "http://192.168.1.20:8080/", "events": ["message.status"]}, 422, "invalid_webhook_url"),
        # An event name outside the enum: the request model refuses it at the gateway, deployed and locally.
        ({"url": "http://127.0.0.1:8099/", "events": ["message.sent"]}, 400, "invalid_body"),
    ],
)
def test_webhook_endpoint_validation_over_http(
    stack: LocalStack, body: dict[str, object], status: int, code: str
) -> None:
    answer = stack.request("POST", "/v1/webhook-endpoints", body, headers=_session(stack))
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == code


def test_webhook_endpoints_need_credentials_and_stay_in_their_account(stack: LocalStack) -> None:
    assert stack.request("GET", "/v1/webhook-endpoints").status == 401
    owner, stranger = _session(stack), _session(stack)
    created = stack.request(
        "POST", "/v1/webhook-endpoints", {"url": "http://localhost:8099/x", "events": ["message.status"]}, headers=owner
    )
    assert created.status == 201, created.text
    endpoint_id = created.json()["id"]
    assert stack.request("GET", "/v1/webhook-endpoints", headers=stranger).json()["data"] == []
    assert stack.request("GET", f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=stranger).status == 404
    assert stack.request("DELETE", f"/v1/webhook-endpoints/{endpoint_id}", headers=stranger).status == 404
    assert stack.request("GET", "/v1/webhook-endpoints", headers=owner).json()["data"][0]["id"] == endpoint_id

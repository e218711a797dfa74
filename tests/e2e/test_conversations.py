"""Conversations through `make dev`'s stack: an inbound reply in the list, the timeline and the webhook; an agent
replies within the window (delivered by the sandbox) and is refused outside it; viewers, other accounts, erasure."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.test_messaging import PASSWORD, Hooks, hooks, signed_by  # noqa: F401 - the hooks fixture

pytestmark = pytest.mark.e2e
PHONE = "+14155550177"


def _signup(stack: LocalStack) -> dict[str, str]:
    """A verified owner's developer and viewer API keys (keys outlive the clock moves below; sessions would not)."""
    email = f"conv-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": PASSWORD, "account_name": "Bistro"}
    assert stack.request("POST", "/v1/signup", body).status == 202
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    session = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    keys = {}
    for role in ("developer", "viewer"):
        created = stack.request(
            "POST", "/v1/api-keys", {"name": role, "role": role}, headers={"Authorization": f"Bearer {session}"}
        )
        assert created.status == 201, created.text
        keys[role] = created.json()["key"]
    return keys


def call(stack: LocalStack, key: str, method: str, path: str, body: Any = None) -> Any:
    return stack.request(method, path, body, headers={"Authorization": f"Bearer {key}"})


def download(stack: LocalStack, key: str, path: str, accept: str = "application/octet-stream") -> Any:
    """GET a file's or recording's bytes: deployed (and locally), API Gateway decodes them only for an Accept naming
    a binary type (docs/files.md "Deployed: binary bodies"); with another Accept the answer is their base64."""
    return stack.request("GET", path, headers={"Authorization": f"Bearer {key}", "Accept": accept})


def wait_for(stack: LocalStack, key: str, message_id: str, status: str, timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    log: dict[str, Any] = {}
    while time.monotonic() < deadline:
        log = call(stack, key, "GET", f"/v1/messages/{message_id}").json()
        if log["status"] == status:
            return log
        time.sleep(0.05)
    pytest.fail(f"{message_id} never reached {status}: {log}")


def test_an_inbound_reply_an_agent_reply_in_the_window_and_a_refusal_outside_it(
    stack: LocalStack,
    hooks: Hooks,  # noqa: F811 - the fixture imported above
) -> None:
    keys = _signup(stack)
    dev, viewer = keys["developer"], keys["viewer"]
    endpoint = call(stack, dev, "POST", "/v1/webhook-endpoints", {"url": hooks.url, "events": ["message.inbound"]})
    assert endpoint.status == 201, endpoint.text
    secret = endpoint.json()["secret"]
    rid = call(stack, dev, "POST", "/v1/recipients", {"phone": PHONE, "name": "Ada"}).json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call(stack, dev, "POST", f"/v1/recipients/{rid}/consents", consent).status == 201
    sent = call(stack, dev, "POST", "/v1/messages", {"recipient_id": rid, "channel": "sms", "body": "Table ready?"})
    assert sent.status == 202, sent.text
    ours = sent.json()
    wait_for(stack, dev, ours["id"], "delivered")

    # They answer our message: the sandbox names it by its own id, the platform links it to ours.
    answer = {"from": PHONE, "to": ours["from"], "body": "On my way", "reply_to": ours["id"]}
    assert stack.request("POST", "/_local/carriers/sandbox-a/inbound", answer).status == 200

    [row] = call(stack, dev, "GET", "/v1/conversations").json()["data"]
    assert (row["recipient_id"], row["phone"], row["name"], row["unread_count"]) == (rid, PHONE, "Ada", 1)
    assert (row["last_direction"], row["last_channel"]) == ("inbound", "sms")
    entries = call(stack, dev, "GET", f"/v1/recipients/{rid}/messages").json()["data"]
    assert [(e["direction"], e["body"], e["in_reply_to"]) for e in entries] == [
        ("inbound", "On my way", ours["id"]),
        ("outbound", "Table ready?", None),
    ]
    hooks.wait(lambda: bool(hooks.received))
    [(_, headers, raw)] = hooks.received
    assert signed_by(secret, headers, raw)
    event = json.loads(raw)
    assert (event["type"], event["data"]["id"], event["data"]["in_reply_to"]) == (
        "message.inbound",
        entries[0]["id"],
        ours["id"],
    )

    # A viewer sees the conversation with a masked number and no bodies.
    [masked] = call(stack, viewer, "GET", "/v1/conversations").json()["data"]
    assert masked["phone"] == "+1******0177"
    assert [e["body"] for e in call(stack, viewer, "GET", f"/v1/recipients/{rid}/messages").json()["data"]] == [
        None,
        None,
    ]
    assert call(stack, viewer, "POST", f"/v1/conversations/{rid}/read").status == 403

    # The agent replies within the window: the normal send path delivers it.
    replied = call(stack, dev, "POST", f"/v1/recipients/{rid}/messages", {"channel": "sms", "body": "See you!"})
    assert replied.status == 202, replied.text
    wait_for(stack, dev, replied.json()["id"], "delivered")
    deliveries = stack.request("GET", "/_local/deliveries").json()["data"]
    assert any(d["message_id"] == replied.json()["id"] and d["to"] == PHONE for d in deliveries)
    assert call(stack, dev, "POST", f"/v1/conversations/{rid}/read").status == 204
    [row] = call(stack, dev, "GET", "/v1/conversations").json()["data"]
    assert (row["unread_count"], row["last_direction"]) == (0, "outbound")

    # Another account's id is not found.
    other = _signup(stack)["developer"]
    assert call(stack, other, "GET", f"/v1/recipients/{rid}/messages").status == 404
    assert call(stack, other, "GET", "/v1/conversations").json()["data"] == []

    # A day later the window has closed.
    assert stack.request("POST", "/_local/clock", {"advance_s": 24 * 3600 + 60}).status == 200
    late = call(stack, dev, "POST", f"/v1/recipients/{rid}/messages", {"channel": "sms", "body": "Still there?"})
    assert (late.status, late.json()["code"]) == (422, "reply_window_closed")
    whatsapp = call(stack, dev, "POST", f"/v1/recipients/{rid}/messages", {"channel": "whatsapp", "body": "Hi"})
    assert (whatsapp.status, whatsapp.json()["code"]) == (422, "template_required")

    # Erased, the person leaves no conversation.
    assert call(stack, dev, "DELETE", f"/v1/recipients/{rid}").status == 204
    assert call(stack, dev, "GET", "/v1/conversations").json()["data"] == []

"""API keys through the gateway path (R26-R28, R11): shown once, hashed, role-capped, revoked and rotated at once."""

import json
import re
from typing import Any

import boto3

from functions.authorizer import handler as authorizer_handler
from switchboard import clock
from switchboard.crypto import blind_index
from switchboard.dal import accounts as accounts_dal
from tests.integration.conftest import Context
from tests.integration.identity.support import authorizer_event, call, mails_to, register, session


def _authorize(key: str) -> dict[str, Any] | None:
    try:
        decision: dict[str, Any] = authorizer_handler.lambda_handler(
            authorizer_event("GET", "/v1/messages", key), Context()
        )
    except Exception as error:
        assert str(error) == "Unauthorized"
        return None
    return decision["context"]


def _owner() -> str:
    register("jane@example.com")
    return session("jane@example.com")


def _set_role(email: str, role: str) -> None:
    lookup = accounts_dal.find_by_email(blind_index.email_index(email))
    assert lookup is not None
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id)
    assert user is not None
    accounts_dal.update_user(user, role=role)


def test_api_key_r26_create_shows_the_key_once_and_stores_only_its_hmac(identity: dict[str, str]) -> None:
    token = _owner()
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token)
    assert created.status == 201
    key = created.body["key"]
    assert re.fullmatch(r"sb_test_key_[0-9a-z]{26}_[A-Za-z0-9_-]{43}", key)
    prefix = created.body["prefix"]
    assert prefix == f"sb_test_{created.body['id']}"
    assert key.startswith(prefix + "_")
    assert created.body["id"].startswith("key_")
    listed = call("GET", "/v1/api-keys", token=token)
    assert listed.status == 200
    assert key not in json.dumps(listed.body)
    assert listed.body["data"][0]["last_used_at"] is None
    secret = key.removeprefix(prefix + "_")
    client = boto3.client("dynamodb")
    dump = json.dumps([client.scan(TableName=n)["Items"] for n in client.list_tables()["TableNames"]], default=repr)
    assert secret not in dump
    assert "new API key" in mails_to("jane@example.com")[-1].subject


def test_api_key_r28_authorizer_resolves_the_key(identity: dict[str, str]) -> None:
    token = _owner()
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "agent"}, token=token).body
    context = _authorize(created["key"])
    assert context is not None
    assert (context["credential"], context["principal"], context["key_id"], context["role"]) == (
        "api_key",
        created["id"],
        created["id"],
        "agent",
    )
    assert (context["session_id"], context["auth_at"], context["mode"]) == ("", "", "test")
    assert call("GET", "/v1/api-keys", token=token).body["data"][0]["last_used_at"] is not None
    assert _authorize(created["key"][:-1] + ("A" if created["key"][-1] != "A" else "B")) is None


def test_api_key_r28_never_above_the_creator(identity: dict[str, str]) -> None:
    token = _owner()
    owner_key = call("POST", "/v1/api-keys", {"name": "all", "role": "owner"}, token=token).body["key"]
    _set_role("jane@example.com", "developer")
    refused = call("POST", "/v1/api-keys", {"name": "x", "role": "admin"}, token=token)
    assert (refused.status, refused.body["code"]) == (403, "role_too_high")
    assert call("POST", "/v1/api-keys", {"name": "x", "role": "developer"}, token=token).status == 201
    context = _authorize(owner_key)
    assert context is not None
    assert context["role"] == "developer"  # the creator's demotion caps their keys at once
    _set_role("jane@example.com", "viewer")
    assert call("POST", "/v1/api-keys", {"name": "x", "role": "viewer"}, token=token).status == 403


def test_api_key_r28_revoke_takes_effect_on_the_next_request(identity: dict[str, str]) -> None:
    token = _owner()
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token).body
    assert _authorize(created["key"]) is not None
    assert call("DELETE", f"/v1/api-keys/{created['id']}", token=token).status == 204
    assert _authorize(created["key"]) is None
    assert call("DELETE", f"/v1/api-keys/{created['id']}", token=token).status == 404


def test_api_key_rotate_keeps_the_old_key_for_the_grace_period(identity: dict[str, str]) -> None:
    token = _owner()
    old = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token).body
    rotated = call("POST", f"/v1/api-keys/{old['id']}/rotate", {"grace_s": 600}, token=token)
    assert rotated.status == 201
    assert rotated.body["id"] != old["id"]
    assert _authorize(old["key"]) is not None
    assert _authorize(rotated.body["key"]) is not None
    clock.advance(601)
    assert _authorize(old["key"]) is None
    assert _authorize(rotated.body["key"]) is not None


def test_api_key_r28_expiry(identity: dict[str, str]) -> None:
    token = _owner()
    soon = clock.rfc3339(clock.now().replace(microsecond=0)).replace("Z", "+00:00")
    past = call("POST", "/v1/api-keys", {"name": "x", "role": "viewer", "expires_at": soon}, token=token)
    assert past.status == 422
    created = call("POST", "/v1/api-keys", {"name": "x", "role": "viewer"}, token=token).body
    clock.advance(365 * 86400 + 1)
    assert _authorize(created["key"]) is None


def test_api_key_management_r24_needs_a_session_and_a_recent_login(identity: dict[str, str]) -> None:
    token = _owner()
    key = call("POST", "/v1/api-keys", {"name": "ci", "role": "owner"}, token=token).body["key"]
    with_key = call("GET", "/v1/api-keys", token=key)
    assert (with_key.status, with_key.body["code"]) == (403, "session_required")
    assert call("GET", "/v1/me", token=key).status == 403
    clock.advance(6 * 60)
    stale = call("POST", "/v1/api-keys", {"name": "late", "role": "viewer"}, token=token)
    assert (stale.status, stale.body["code"]) == (401, "reauth_required")


def test_api_key_r32_other_accounts_keys_are_404(identity: dict[str, str]) -> None:
    token = _owner()
    register("bob@example.com", account_name="Bobs Burgers")
    bob = session("bob@example.com")
    bobs = call("POST", "/v1/api-keys", {"name": "bob", "role": "developer"}, token=bob).body
    assert call("DELETE", f"/v1/api-keys/{bobs['id']}", token=token).status == 404
    assert call("POST", f"/v1/api-keys/{bobs['id']}/rotate", token=token).status == 404
    assert call("GET", "/v1/api-keys", token=token).body["data"] == []
    assert _authorize(bobs["key"]) is not None

"""GET /v1/account/export: every record of the account, sealed values opened, no secret or verifier, owner only."""

from __future__ import annotations

import json

import pytest

from switchboard import clock
from switchboard.logic import audit
from switchboard.logic import closure as lifecycle_logic
from tests.integration.identity.gateway import call, login
from tests.integration.identity.support import PASSWORD
from tests.integration.lifecycle.support import PHONE, populate, scan


def test_export_holds_every_record_opened_and_no_secret(identity: dict[str, str]) -> None:
    world = populate("export@closing.example")
    other = populate("other@closing.example", account_name="Other Co")

    answer = call("GET", "/v1/account/export", token=world.owner)

    assert answer.status == 200, answer.body
    document = answer.body
    assert document["account"]["id"] == world.account_id
    accounts = document["records"]["Accounts"]
    users = [r for r in accounts if r["sk"].startswith("USER#")]
    assert sorted(u["email"] for u in users) == sorted([world.email, world.admin_email])
    invitation = next(r for r in accounts if r["sk"].startswith("INVITE#"))
    assert invitation["email"] == "invitee.export@closing.example"
    key = next(r for r in accounts if r["sk"].startswith("APIKEY#"))
    assert key["key_id"] == world.key_id
    messaging = {r["sk"]: r for r in document["records"]["Messaging"]}
    assert messaging["RCP#rcp_1"]["phone"] == PHONE  # messaging's binding (field = attribute name) opens too
    assert messaging["RCP#rcp_1"]["name"] == "Ada Lovelace"
    assert messaging["MSG#msg_1"]["body"] == "Your code is 4242"
    assert document["unreadable_fields"] == 0
    assert {"account.created", "api_key.created", "member.joined"} <= {e["type"] for e in document["audit_events"]}
    text = json.dumps(document)
    for forbidden in ("password_phc", "secret_hash", "token_digest", "reset_digest", "email_index", "sb1.", "$argon2"):
        assert forbidden not in text, forbidden
    stored = [i for i in scan("Accounts") if i["pk"] == f"ACCT#{world.account_id}"]
    for item in stored:
        for name in ("secret_hash", "token_digest", "password_phc"):
            if name in item:
                assert str(item[name]) not in text
    assert world.key not in text
    assert other.account_id not in text and other.email not in text
    assert audit.list_events(world.account_id, limit=1).data[0].type == "account.exported"


def test_export_is_for_an_owner_session_with_a_recent_login(identity: dict[str, str]) -> None:
    world = populate("export-roles@closing.example")
    owner_key = call("POST", "/v1/api-keys", {"name": "o", "role": "owner"}, token=world.owner).body["key"]

    by_admin = call("GET", "/v1/account/export", token=world.admin)
    by_key = call("GET", "/v1/account/export", token=owner_key)
    clock.advance(301)
    stale = call("GET", "/v1/account/export", token=world.owner)
    assert call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=world.owner).status == 200
    fresh = call("GET", "/v1/account/export", token=world.owner)

    assert (by_admin.status, by_admin.body["code"]) == (403, "forbidden")
    assert (by_key.status, by_key.body["code"]) == (403, "session_required")
    assert (stale.status, stale.body["code"]) == (401, "reauth_required")
    assert fresh.status == 200


def test_export_beyond_one_answer_is_413_export_too_large(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = populate("big@closing.example")
    monkeypatch.setattr(lifecycle_logic, "EXPORT_MAX_BYTES", 2_000)

    answer = call("GET", "/v1/account/export", token=login(world.email))

    assert (answer.status, answer.body["code"]) == (413, "export_too_large")
    assert "6 MB" in answer.body["detail"]

"""F13: the account export shows no secret of any object class: not a message's one-time `callback_secret`, not a
webhook endpoint's signing secret, an API key or its hash, a TOTP seed (active or pending), recovery codes, a
password hash, a session, reset or invitation token or their digests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard import clock
from switchboard.crypto import envelope, totp
from switchboard.logic import closure
from tests.integration.conftest import _handlers_run_as_deployed, aws
from tests.integration.identity.conftest import identity
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import PASSWORD, last_token
from tests.integration.lifecycle.support import scan
from tests.integration.messaging.conftest import queues

__all__ = ["_handlers_run_as_deployed", "aws", "identity", "queues"]  # fixtures

# Names of every secret-bearing attribute an item of ours has or could get, and look-alikes a new module might add.
SECRET_FIELDS = [
    "callback_secret_sealed",
    "secret_sealed",
    "previous_secret_sealed",
    "signing_secret",
    "webhook_secret",
    "secret_hash",
    "password_phc",
    "new_password",
    "totp_seed",
    "totp_pending",
    "totp_last_step",
    "recovery_codes",
    "recovery_code_hashes",
    "token_digest",
    "reset_digest",
    "session_token",
    "refresh_token_sealed",
    "email_index",
    "phone_index",
    "pepper_version",
    "wrapped_key",
    "private_key",
]
SECRET_VALUES = ["whsec_abc", "sb_live_abc", "sb_test_abc", "sbs_abc", "$argon2id$v=19$m=65536,t=3,p=4$abc"]


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_a_secret_named_field_is_withheld_at_any_depth(name: str) -> None:
    item = {"pk": "ACCT#a", "sk": "X#1", name: "value-of-the-secret", "kept": {"inner": {name: "value-of-the-secret"}}}
    record, unreadable = closure.export_record("acct_a", "Accounts", item)
    assert "value-of-the-secret" not in json.dumps(record)
    assert record["sk"] == "X#1" and unreadable == 0


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_a_credential_shaped_value_is_withheld_whatever_its_field(value: str) -> None:
    item = {"pk": "ACCT#a", "sk": "X#1", "note": value, "list": [value, "ok"], "nested": {"x": value}}
    record, _ = closure.export_record("acct_a", "Accounts", item)
    assert value not in json.dumps(record)
    assert record["list"][1] == "ok"


def test_ordinary_fields_are_exported() -> None:
    item = {"pk": "ACCT#a", "sk": "X#1", "name": "Acme", "password_changed_at": 5, "mfa_enabled": True, "events": []}
    record, _ = closure.export_record("acct_a", "Accounts", item)
    assert record == {"sk": "X#1", "name": "Acme", "password_changed_at": 5, "mfa_enabled": True, "events": []}


def _secrets_of_an_account() -> tuple[str, list[str]]:
    """An owner with every secret-bearing object class, made through the API; (session token, every secret shown)."""
    clock.advance(totp.STEP_S - clock.timestamp() % totp.STEP_S + 0.5)  # codes of one step for the whole setup
    register("owner@export-secrets.example")
    token = login("owner@export-secrets.example")
    shown: list[str] = [token, PASSWORD]
    enrolled = call("POST", "/v1/me/mfa/totp", token=token)
    seed = enrolled.body["secret"]
    activated = call(
        "POST", "/v1/me/mfa/totp/activate", {"code": totp.code_at_step(seed, totp.current_step())}, token=token
    )
    assert activated.status == 200, activated.body
    shown += [seed, *activated.body["recovery_codes"]]
    key = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token)
    assert key.status == 201, key.body
    shown.append(key.body["key"])
    endpoint = call(
        "POST", "/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}, token=token
    )
    assert endpoint.status == 201, endpoint.body
    shown.append(endpoint.body["secret"])
    recipient = call("POST", "/v1/recipients", {"phone": "+14155552671", "name": "Ada"}, token=token).body["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call("POST", f"/v1/recipients/{recipient}/consents", consent, token=token).status == 201
    for n in range(2):
        message = {
            "recipient_id": recipient,
            "channel": "sms",
            "body": f"hi {n}",
            "callback_url": "http://127.0.0.1:9/c",
        }
        sent = call("POST", "/v1/messages", message, token=token)
        assert sent.status == 202, sent.body
        shown.append(sent.body["callback_secret"])
    assert call(
        "POST", "/v1/members", {"email": "invitee@export-secrets.example", "role": "viewer"}, token=token
    ).status
    shown.append(last_token("invitee@export-secrets.example"))
    assert call("POST", "/v1/password-resets", {"email": "owner@export-secrets.example"}).status == 202
    shown.append(last_token("owner@export-secrets.example"))
    pending = call("POST", "/v1/sessions", {"email": "owner@export-secrets.example", "password": PASSWORD})
    shown += [str(v) for k, v in (pending.body or {}).items() if "token" in k]
    return token, shown


def _stored_secrets(account_id: str) -> list[str]:
    """The stored form of every secret: hashes, digests, sealed secrets, as a raw scan reads them."""
    found: list[str] = []

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k, v)
        elif isinstance(value, list | set):
            for v in value:
                walk(name, v)
        elif isinstance(value, str) and len(value) >= 12 and closure._withheld(name) and not name.endswith("_index"):
            # Blind indexes are withheld as fields but are no secret: keyed hashes that also form some sort keys.
            found.append(value)

    for table in ("Accounts", "Messaging"):
        for item in scan(table):
            if f"ACCT#{account_id}" in str(item.get("pk", "")):
                for name, value in item.items():
                    if name not in {"pk", "sk"} and not name.startswith("gsi"):
                        walk(name, value)
    return found


def test_export_shows_no_secret_of_any_object_class(identity: dict[str, str], queues: Any) -> None:
    token, shown = _secrets_of_an_account()
    reauth = {"password": PASSWORD, "totp_code": totp.code_at_step(shown[2], totp.current_step() + 1)}
    clock.advance(totp.STEP_S)
    assert call("POST", "/v1/sessions/current/reauth", reauth, token=token).status == 200
    answer = call("GET", "/v1/account/export", token=token)
    assert answer.status == 200, answer.body
    text = json.dumps(answer.body)
    account_id = answer.body["account"]["id"]
    messages = [r for r in answer.body["records"]["Messaging"] if r["sk"].startswith("MSG#")]
    assert len(messages) == 2 and all(m["body"].startswith("hi ") for m in messages)  # opened, but no secret
    assert any(r["sk"].startswith("WHE#") for r in answer.body["records"]["Accounts"])
    for secret in shown:
        assert secret not in text, secret
    stored = _stored_secrets(account_id)
    assert len(stored) >= 8  # hashes, digests and sealed secrets were found to look for
    for value in stored:
        assert value not in text, value
    for marker in ("whsec_", "sb_live_", "sb_test_", "sbs_", "$argon2", f"{envelope.PREFIX}.", "callback_secret"):
        assert marker not in text, marker

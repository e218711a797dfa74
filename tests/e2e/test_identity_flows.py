"""Identity and account end to end through `python -m local`: what a customer does, over HTTP, nothing mocked.

Argon2id costs ~100 ms a hash here, so accounts are created once per module and reused where a test allows it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import Answer, LocalStack

pytestmark = pytest.mark.e2e

PASSWORD = "lantern quasar velvet plumbing"
_counter = itertools.count()


def _unique(stem: str) -> str:
    return f"{stem}{next(_counter)}-{id(_counter) % 10_000}@e2e.example"


def _now(stack: LocalStack) -> int:
    return int(
        datetime.fromisoformat(stack.request("POST", "/_local/clock", {"advance_s": 0}).json()["now"]).timestamp()
    )


def _advance(stack: LocalStack, seconds: int) -> None:
    assert stack.request("POST", "/_local/clock", {"advance_s": seconds}).status == 200


def _token_for(stack: LocalStack, address: str) -> str:
    for mail in stack.request("GET", "/_local/outbox").json()["data"]:  # newest first
        if mail["to"] == address and mail.get("token"):
            token: str = mail["token"]
            return token
    raise AssertionError(f"no link was e-mailed to {address}")


def _await_token(stack: LocalStack, address: str, timeout_s: float = 15.0) -> str:
    """The link's token once the mail worker has sent it (signup's work happens there, after the 202)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _token_for(stack, address)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _signup(stack: LocalStack, email: str, account_name: str = "E2E Widgets") -> None:
    body = {"email": email, "password": PASSWORD, "account_name": account_name}
    assert stack.request("POST", "/v1/signup", body).json() == {"status": "verification_sent"}
    assert stack.request("POST", "/v1/email-verifications", {"token": _token_for(stack, email)}).status == 200


def _login(stack: LocalStack, email: str, **extra: str) -> Answer:
    return stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD, **extra})


def _session(stack: LocalStack, email: str, **extra: str) -> str:
    answer = _login(stack, email, **extra)
    assert answer.status == 201, answer.body
    token: str = answer.json()["token"]
    return token


@dataclass
class Owner:
    """An account's verified owner, created once for the module."""

    email: str
    account_id: str


@pytest.fixture(scope="module")
def owner(stack: LocalStack) -> Iterator[Owner]:
    email = _unique("owner")
    _signup(stack, email)
    me = stack.request("GET", "/v1/me", headers=_bearer(_session(stack, email))).json()
    assert me["email"] == email
    assert me["role"] == "owner"
    yield Owner(email, me["account_id"])


def test_e2e_signup_verify_login_me(stack: LocalStack) -> None:
    email = _unique("new")
    body = {"email": email, "password": PASSWORD, "account_name": "Fresh Co"}
    assert stack.request("POST", "/v1/signup", body).status == 202
    token = _await_token(stack, email)  # the mail worker has done the signup's work (docs/identity.md)
    unverified = _login(stack, email)
    # Until the address is proven nobody logs in; only the right password learns why (docs/identity.md).
    assert (unverified.status, unverified.json()["code"]) == (401, "email_not_verified")
    assert "token" not in unverified.json()
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    login = _login(stack, email)
    assert login.status == 201
    assert login.json()["token"].startswith("sbs_")
    assert login.json()["idle_timeout_s"] == 1800
    me = stack.request("GET", "/v1/me", headers=_bearer(login.json()["token"]))
    assert me.status == 200
    assert (me.json()["email"], me.json()["role"], me.json()["mfa_enabled"]) == (email, "owner", False)
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-Id"):
        assert me.headers[name]
    account = stack.request("GET", "/v1/account", headers=_bearer(login.json()["token"])).json()
    assert (account["name"], account["plan"], account["status"]) == ("Fresh Co", "free", "active")
    assert len(account["senders"]) == 3


def test_e2e_totp_enrol_activate_and_login_with_codes(stack: LocalStack) -> None:
    email = _unique("totp")
    _signup(stack, email)
    token = _session(stack, email)
    enrolled = stack.request("POST", "/v1/me/mfa/totp", headers=_bearer(token))
    assert enrolled.status == 201
    totp = pyotp.TOTP(enrolled.json()["secret"])
    activation_code = totp.at(_now(stack))
    activated = stack.request("POST", "/v1/me/mfa/totp/activate", {"code": activation_code}, headers=_bearer(token))
    assert activated.status == 200
    assert len(activated.json()["recovery_codes"]) == 10
    no_code = _login(stack, email)
    assert (no_code.status, no_code.json()["code"]) == (401, "mfa_required")
    # The activation's code, not "the code now": on a slow run the step may have moved on, and a new step is fresh.
    spent = _login(stack, email, totp_code=activation_code)
    assert spent.status == 401
    _advance(stack, 30)
    assert _login(stack, email, totp_code=totp.at(_now(stack))).status == 201
    assert stack.request("GET", "/v1/me", headers=_bearer(token)).json()["mfa_enabled"] is True


def test_e2e_logout_kills_the_token_and_the_eleventh_session_evicts_the_first(stack: LocalStack, owner: Owner) -> None:
    token = _session(stack, owner.email)
    assert stack.request("DELETE", "/v1/sessions/current", headers=_bearer(token)).status == 204
    assert stack.request("GET", "/v1/me", headers=_bearer(token)).status == 401
    sessions = [_session(stack, owner.email) for _ in range(11)]
    assert stack.request("GET", "/v1/me", headers=_bearer(sessions[0])).status == 401
    assert stack.request("GET", "/v1/me", headers=_bearer(sessions[1])).status == 200
    assert len(stack.request("GET", "/v1/sessions", headers=_bearer(sessions[-1])).json()["data"]) == 10


def test_e2e_api_key_create_use_revoke(stack: LocalStack, owner: Owner) -> None:
    token = _session(stack, owner.email)
    created = stack.request("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"}, headers=_bearer(token))
    assert created.status == 201
    key = created.json()["key"]
    assert key.startswith("sb_test_")
    used = stack.request("GET", "/v1/account", headers=_bearer(key))
    assert (used.status, used.json()["id"]) == (200, owner.account_id)
    assert used.headers["RateLimit-Limit"] and used.headers["RateLimit-Remaining"]
    assert stack.request("GET", "/v1/me", headers=_bearer(key)).json()["code"] == "session_required"
    revoked = stack.request("DELETE", f"/v1/api-keys/{created.json()['id']}", headers=_bearer(token))
    assert revoked.status == 204
    assert stack.request("GET", "/v1/account", headers=_bearer(key)).status == 401


def test_e2e_credentials_in_url_are_400_on_every_kind_of_route(stack: LocalStack, owner: Owner) -> None:
    token = _session(stack, owner.email)
    for method, path, body in (
        ("GET", f"/v1/account?access_token={token}", None),
        ("GET", "/v1/me?api_key=x", None),
        ("POST", "/v1/sessions?token=x", {"email": owner.email, "password": PASSWORD}),
        # A body the request model admits: one it refuses is the gateway's 400 invalid_body before any handler runs
        # (deployed as locally), so the handler's credentials_in_url would never be reached.
        ("POST", "/v1/signup?key=sb_test_x", {"email": "url@e2e.example", "password": PASSWORD, "account_name": "U"}),
        ("GET", f"/v1/health?t={token}", None),
    ):
        answer = stack.request(method, path, body, headers=_bearer(token))
        assert (answer.status, answer.json()["code"]) == (400, "credentials_in_url"), path


def test_e2e_idempotent_post_replays_the_first_answer(stack: LocalStack, owner: Owner) -> None:
    headers = {**_bearer(_session(stack, owner.email)), "Idempotency-Key": f"e2e-{_unique('k')}"}
    body = {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}
    first = stack.request("POST", "/v1/recipients", {"phone": "+14155550142"}, headers=headers)
    again = stack.request("POST", "/v1/recipients", {"phone": "+14155550142"}, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotency-Replay"] == "true"
    assert again.json() == first.json()
    # An answer that showed a one-time secret is never shown again: 409 naming what was created.
    created = stack.request("POST", "/v1/webhook-endpoints", body, headers={**headers, "Idempotency-Key": "e2e-w"})
    replayed = stack.request("POST", "/v1/webhook-endpoints", body, headers={**headers, "Idempotency-Key": "e2e-w"})
    assert created.status == 201
    assert (replayed.status, replayed.json()["code"]) == (409, "idempotency_secret_shown")
    assert replayed.json()["id"] == created.json()["id"]
    assert created.json()["secret"] not in replayed.text
    other = stack.request("POST", "/v1/api-keys", {"name": "twice", "role": "viewer"}, headers=headers)
    assert (other.status, other.json()["code"]) == (422, "idempotency_key_reused")


def test_e2e_member_invite_accept_role_applies_then_demotion(stack: LocalStack, owner: Owner) -> None:
    token = _session(stack, owner.email)
    email = _unique("admin")
    invited = stack.request("POST", "/v1/members", {"email": email, "role": "admin"}, headers=_bearer(token))
    assert invited.status == 201
    accepted = stack.request(
        "POST", "/v1/invitations/accept", {"token": _token_for(stack, email), "password": PASSWORD}
    )
    assert accepted.status == 201
    user_id = accepted.json()["user_id"]
    admin = _session(stack, email)
    assert stack.request("GET", "/v1/me", headers=_bearer(admin)).json()["role"] == "admin"
    assert stack.request("GET", "/v1/audit-events", headers=_bearer(admin)).status == 200
    listed = stack.request("GET", "/v1/members", headers=_bearer(token)).json()["data"]
    assert (email, "admin", "active") in [(m["email"], m["role"], m["status"]) for m in listed]
    demoted = stack.request("PATCH", f"/v1/members/{user_id}", {"role": "viewer"}, headers=_bearer(token))
    assert (demoted.status, demoted.json()["role"]) == (200, "viewer")
    refused = stack.request("GET", "/v1/audit-events", headers=_bearer(admin))
    assert (refused.status, refused.json()["code"]) == (403, "forbidden")
    assert stack.request("GET", "/v1/account", headers=_bearer(admin)).status == 200
    viewer_key = stack.request("POST", "/v1/api-keys", {"name": "x", "role": "viewer"}, headers=_bearer(admin))
    assert viewer_key.status == 403
    assert stack.request("DELETE", f"/v1/members/{user_id}", headers=_bearer(token)).status == 204
    assert stack.request("GET", "/v1/account", headers=_bearer(admin)).status == 401


def test_e2e_tenant_isolation_sample(stack: LocalStack, owner: Owner) -> None:
    other = _unique("other")
    _signup(stack, other, "Other Co")
    other_token = _session(stack, other)
    other_key = stack.request("POST", "/v1/api-keys", {"name": "o", "role": "viewer"}, headers=_bearer(other_token))
    token = _session(stack, owner.email)
    other_me = stack.request("GET", "/v1/me", headers=_bearer(other_token)).json()
    for method, path, body in (
        ("DELETE", f"/v1/api-keys/{other_key.json()['id']}", None),
        ("PATCH", f"/v1/members/{other_me['user_id']}", {"role": "viewer"}),
        ("DELETE", f"/v1/members/{other_me['user_id']}", None),
    ):
        answer = stack.request(method, path, body, headers=_bearer(token))
        assert (answer.status, answer.json()["code"]) == (404, "not_found"), path
    assert (
        stack.request("GET", "/v1/account", headers=_bearer(other_key.json()["key"])).json()["id"] != owner.account_id
    )


def test_e2e_audit_trail_lists_and_verifies(stack: LocalStack, owner: Owner) -> None:
    token = _session(stack, owner.email)
    page = stack.request("GET", "/v1/audit-events?limit=5", headers=_bearer(token))
    assert page.status == 200
    events: list[dict[str, Any]] = page.json()["data"]
    assert len(events) == 5
    assert page.json()["next_cursor"]
    assert events[0]["type"] == "session.created"
    assert all(e["request_id"] and e["at"].endswith("Z") for e in events)
    verification = stack.request("GET", "/v1/audit-events/verification", headers=_bearer(token)).json()
    assert verification["valid"] is True
    assert verification["checked"] >= 5
    # The anchor job (scheduled every 15 minutes, run now) anchors the head; verification compares with it.
    anchored = stack.request("POST", "/_local/jobs/audit_anchor")
    assert anchored.status == 200
    assert anchored.json()["anchored"] >= 1 and anchored.json()["broken"] == {}
    verification = stack.request("GET", "/v1/audit-events/verification", headers=_bearer(token)).json()
    assert verification["valid"] is True
    assert verification["anchored_seq"] == verification["checked"]


def test_e2e_lockout_holds_with_the_right_password_then_lifts(stack: LocalStack) -> None:
    email = _unique("locked")
    _signup(stack, email)
    _advance(stack, 15 * 60)  # earlier tests' failures from this client IP (e.g. a spent TOTP code) age out
    for _ in range(10):
        wrong = stack.request("POST", "/v1/sessions", {"email": email, "password": "definitely not the password"})
        assert wrong.status == 401
    locked = _login(stack, email)
    assert (locked.status, locked.json()["code"]) == (429, "too_many_attempts")
    assert int(locked.headers["Retry-After"]) > 0
    _advance(stack, 15 * 60)
    assert _login(stack, email).status == 201

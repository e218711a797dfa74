"""Account closure through `python -m local`: delete, restore, delete again, and the purge 30 days later."""

from __future__ import annotations

import itertools

import pytest

from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

PASSWORD = "lantern quasar velvet plumbing"
THIRTY_DAYS_AND_A_SECOND = 30 * 24 * 3600 + 1
_counter = itertools.count()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token_for(stack: LocalStack, address: str) -> str:
    for mail in stack.request("GET", "/_local/outbox").json()["data"]:  # newest first
        if mail["to"] == address and mail.get("token"):
            token: str = mail["token"]
            return token
    raise AssertionError(f"no link was e-mailed to {address}")


def _login(stack: LocalStack, email: str) -> tuple[int, dict[str, str]]:
    answer = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD})
    return answer.status, answer.json()


def test_account_closure_delete_restore_delete_and_purge(stack: LocalStack) -> None:
    email = f"closing{next(_counter)}-{id(_counter) % 10_000}@e2e.example"
    signup = {"email": email, "password": PASSWORD, "account_name": "Closing E2E"}
    assert stack.request("POST", "/v1/signup", signup).status == 202
    assert stack.request("POST", "/v1/email-verifications", {"token": _token_for(stack, email)}).status == 200
    status, session = _login(stack, email)
    assert status == 201
    token = session["token"]

    deleted = stack.request("DELETE", "/v1/account", {"password": PASSWORD}, headers=_bearer(token))
    assert deleted.status == 202, deleted.body
    assert deleted.json()["status"] == "pending_deletion"
    assert stack.request("GET", "/v1/account", headers=_bearer(token)).status == 401
    status, refused = _login(stack, email)
    assert (status, refused["code"]) == (401, "account_unavailable")
    mail = stack.request("GET", "/_local/outbox").json()["data"][0]
    assert (mail["to"], "will be deleted" in mail["subject"]) == (email, True)

    restored = stack.request("POST", "/v1/account/restore", {"email": email, "password": PASSWORD})
    assert (restored.status, restored.json()) == (200, {"status": "active"})
    status, session = _login(stack, email)
    assert status == 201
    token = session["token"]
    assert stack.request("GET", "/v1/account", headers=_bearer(token)).json()["status"] == "active"
    export = stack.request("GET", "/v1/account/export", headers=_bearer(token))
    assert export.status == 200
    assert [u["email"] for u in export.json()["records"]["Accounts"] if u["sk"].startswith("USER#")] == [email]

    assert stack.request("DELETE", "/v1/account", {"password": PASSWORD}, headers=_bearer(token)).status == 202
    assert stack.request("POST", "/_local/clock", {"advance_s": THIRTY_DAYS_AND_A_SECOND}).status == 200
    report = stack.request("POST", "/_local/jobs/purge")
    assert report.status == 200
    accounts = report.json()["accounts"]
    assert accounts["purged"] >= 1  # other e2e modules on this stack may close accounts too
    assert accounts["pending"] == 0

    status, gone = _login(stack, email)
    assert (status, gone["code"]) == (401, "invalid_credentials")
    assert stack.request("GET", "/v1/account/export", headers=_bearer(token)).status == 401
    late = stack.request("POST", "/v1/account/restore", {"email": email, "password": PASSWORD})
    assert (late.status, late.json()["code"]) == (401, "invalid_credentials")
    assert stack.request("POST", "/_local/jobs/purge").json()["accounts"]["purged"] == 0

"""The console's account pages against the local stack: facts, senders and limits; export; delete and restore."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pyotp
import pytest

from switchboard.models import plans
from tests.e2e.conftest import Answer, LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, signed_up, token_for, unique_email

pytestmark = pytest.mark.e2e
THIRTY_DAYS_S = 30 * 86400


def session_token(browser: ConsoleBrowser) -> str:
    """The API session token the browser's `__Host-` cookie carries (what the console calls the API with)."""
    return browser.cookies["__Host-sb_session"].split("~")[0]


def api(stack: LocalStack, browser: ConsoleBrowser, method: str, path: str, body: Any = None) -> Answer:
    """The public API as the browser's signed-in person: how a test checks what a page did."""
    return stack.request(method, path, body, headers={"Authorization": f"Bearer {session_token(browser)}"})


def member(stack: LocalStack, owner: ConsoleBrowser, role: str) -> ConsoleBrowser:
    """A member with `role`, invited by `owner` through the API, signed in through the console."""
    email = unique_email(role)
    assert api(stack, owner, "POST", "/v1/members", {"email": email, "role": role}).status == 201
    accepted = stack.request("POST", "/v1/invitations/accept", {"token": token_for(stack, email), "password": PASSWORD})
    assert accepted.status == 201, accepted.text
    browser = ConsoleBrowser(stack)
    browser.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    assert "__Host-sb_session" in browser.cookies
    return browser


def forged(browser: ConsoleBrowser, action: str, **fields: str) -> dict[str, str]:
    """A form for `action` that no page offered this browser: only its own valid CSRF token and `fields`."""
    return {"csrf": browser.get("/console/account").form("/console/logout")["csrf"], **fields}


def platform_now(stack: LocalStack) -> int:
    now = stack.request("POST", "/_local/clock", {"advance_s": 0}).json()["now"]
    return int(datetime.fromisoformat(now).timestamp())


def test_account_page_shows_the_account_its_senders_and_the_plans_limits(stack: LocalStack) -> None:
    owner, _ = signed_up(stack, account_name="Ledger & Sons")
    account = api(stack, owner, "GET", "/v1/account").json()
    page = owner.get("/console/account")
    assert page.status == 200
    text = page.text()
    assert "<h1>Ledger &amp; Sons</h1>" in page.html
    assert account["id"] in text
    assert "active" in text
    assert len(account["senders"]) >= 1
    for sender in account["senders"]:
        assert sender["number"] in text
        assert sender["channel"] in text
    free = plans.get(account["plan"])
    assert f"{free.per_key.rate_per_s} per second, bursts of {free.per_key.burst}" in text
    assert f"{free.per_account.rate_per_s} per second, bursts of {free.per_account.burst}" in text
    assert f"{plans.daily_messages(account['plan']):,}" in text
    # The figure the API reported on the page's own request, not one the console made up.
    assert f"of {free.per_account.burst} requests left" in text
    assert "Download export (JSON)" in text
    assert page.form("/console/account/export")["csrf"]
    assert 'href="/console/account/delete"' in page.html


def test_export_downloads_the_accounts_records_as_a_json_attachment(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    account_id = api(stack, owner, "GET", "/v1/account").json()["id"]
    download = owner.post("/console/account/export", owner.get("/console/account").form("/console/account/export"))
    assert download.status == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"] == f'attachment; filename="switchboard-export-{account_id}.json"'
    assert download.headers["cache-control"] == "no-store"
    document = json.loads(download.html)
    assert document["format"] == "switchboard.account-export.v1"
    assert document["account"]["id"] == account_id
    assert any(e["type"] == "session.created" for e in document["audit_events"])
    assert email in download.html  # the owner's own address, opened from its sealed field


def test_export_five_minutes_after_sign_in_asks_to_confirm_then_downloads(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    form = owner.get("/console/account").form("/console/account/export")
    assert stack.request("POST", "/_local/clock", {"advance_s": 301}).status == 200
    asked = owner.post("/console/account/export", form, follow=False)
    assert asked.status == 303
    assert asked.location == "/console/reauth?next=%2Fconsole%2Faccount"
    back = owner.submit("/console/reauth?next=/console/account", "/console/reauth", password=PASSWORD)
    assert back.status == 200
    assert "Download export (JSON)" in back.text()
    download = owner.post("/console/account/export", back.form("/console/account/export"))
    assert (download.status, json.loads(download.html)["format"]) == (200, "switchboard.account-export.v1")


def test_delete_shows_pending_deletion_and_restore_makes_it_active_again(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    token = session_token(owner)
    page = owner.get("/console/account/delete")
    assert page.status == 200
    assert "cannot be undone" in page.text()

    unticked = owner.submit("/console/account/delete", "/console/account/delete", password=PASSWORD)
    assert unticked.status == 422
    assert unticked.error("confirm") == "Tick this box to delete the account."
    wrong = owner.submit(
        "/console/account/delete",
        "/console/account/delete",
        password="not the password at all",  # pragma: allowlist secret
        confirm="yes",
    )
    assert wrong.status == 401
    assert wrong.error("password") == "The e-mail or password is wrong."
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"  # and the session still works

    requested = platform_now(stack)
    deleted = owner.submit("/console/account/delete", "/console/account/delete", password=PASSWORD, confirm="yes")
    assert deleted.status == 200
    assert "pending deletion" in deleted.text()
    assert "__Host-sb_session" not in owner.cookies
    # DELETE /v1/account's purge_after: 30 days after the request, on the platform clock (to the minute shown).
    shown = {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(requested + THIRTY_DAYS_S + s)) for s in (0, 60)}
    assert any(moment in deleted.text() for moment in shown), deleted.text()
    assert stack.request("GET", "/v1/me", headers={"Authorization": f"Bearer {token}"}).status == 401
    refused = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD})
    assert (refused.status, refused.json()["code"]) == (401, "account_unavailable")

    # The restore form on the answer page is signed out: its token is bound to a new pre-session cookie.
    form = deleted.form("/console/account/restore")
    assert form["email"] == email
    bad = owner.post("/console/account/restore", {**form, "password": "not the password at all"})
    assert bad.status == 401
    assert bad.error("password") == "The e-mail or password is wrong."
    restored = owner.post("/console/account/restore", {**form, "password": PASSWORD})
    assert restored.status == 200
    assert "Your account is restored" in restored.text()
    owner.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    page = owner.get("/console/account")
    assert page.status == 200
    assert '<span class="status active">active</span>' in page.html
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"


def test_delete_with_two_step_sign_in_needs_the_code_beside_its_field(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    enrolled = api(stack, owner, "POST", "/v1/me/mfa/totp").json()
    totp = pyotp.TOTP(enrolled["secret"])
    code = totp.at(platform_now(stack))
    assert api(stack, owner, "POST", "/v1/me/mfa/totp/activate", {"code": code}).status == 200
    page = owner.get("/console/account/delete")
    assert "code" in page.form("/console/account/delete")

    missing = owner.submit("/console/account/delete", "/console/account/delete", password=PASSWORD, confirm="yes")
    assert missing.status == 401
    assert missing.error("code")
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"
    assert stack.request("POST", "/_local/clock", {"advance_s": 30}).status == 200  # the activation's step is spent
    deleted = owner.submit(
        "/console/account/delete",
        "/console/account/delete",
        password=PASSWORD,
        confirm="yes",
        code=totp.at(platform_now(stack)),
    )
    assert deleted.status == 200, deleted.text()[:800]
    assert "pending deletion" in deleted.text()
    no_code = owner.post("/console/account/restore", {**deleted.form("/console/account/restore"), "password": PASSWORD})
    assert no_code.status == 401
    assert no_code.error("code")
    assert stack.request("POST", "/_local/clock", {"advance_s": 30}).status == 200
    restored = owner.post(
        "/console/account/restore",
        {**deleted.form("/console/account/restore"), "password": PASSWORD, "code": totp.at(platform_now(stack))},
    )
    assert "Your account is restored" in restored.text()
    assert stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["code"] == (
        "mfa_required"
    )


@pytest.mark.parametrize("role", ["admin", "developer", "viewer"])
def test_members_who_are_not_owners_see_no_owner_buttons_and_forged_posts_are_refused(
    stack: LocalStack, role: str
) -> None:
    owner, _ = signed_up(stack)
    other = member(stack, owner, role)
    page = other.get("/console/account")
    assert page.status == 200
    assert api(stack, owner, "GET", "/v1/account").json()["id"] in page.text()
    assert "/console/account/export" not in page.html
    assert "/console/account/delete" not in page.html
    assert other.get("/console/account/delete").status == 403

    export = other.post("/console/account/export", forged(other, "/console/account/export"))
    assert export.status == 403
    assert "switchboard.account-export" not in export.html
    delete = other.post(
        "/console/account/delete", forged(other, "/console/account/delete", password=PASSWORD, confirm="yes")
    )
    assert delete.status == 403
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"
    assert api(stack, other, "GET", "/v1/me").status == 200  # nothing ended their session either


def test_forms_without_the_csrf_field_are_refused_and_change_nothing(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    export = owner.post("/console/account/export", {})
    assert export.status == 403
    assert "switchboard.account-export" not in export.html
    delete = owner.post("/console/account/delete", {"password": PASSWORD, "confirm": "yes"})
    assert delete.status == 403
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"
    wrong_token = owner.post("/console/account/delete", {"csrf": "x" * 43, "password": PASSWORD, "confirm": "yes"})
    assert wrong_token.status == 403
    assert api(stack, owner, "GET", "/v1/account").json()["status"] == "active"
    stranger = ConsoleBrowser(stack)
    assert stranger.post("/console/account/restore", {"email": email, "password": PASSWORD}).status == 403


def test_restore_of_an_active_account_or_with_odd_input_is_a_form_error_never_a_5xx(stack: LocalStack) -> None:
    owner, email = signed_up(stack)
    browser = ConsoleBrowser(stack)
    active = browser.submit("/console/account/restore", "/console/account/restore", email=email, password=PASSWORD)
    assert active.status == 409
    assert '<div class="alert" role="alert">' in active.html
    for fields in (
        {"email": "", "password": ""},
        {"email": "ünïcødé ✉ 例え", "password": "пароль " * 20},
        {"email": "x" * 5000, "password": "y" * 5000, "code": "z" * 300},
        {"email": email, "password": PASSWORD, "code": "12\u00a03456"},
    ):
        form = browser.get("/console/account/restore").form("/console/account/restore")
        answer = browser.post("/console/account/restore", {**form, **fields})
        assert 400 <= answer.status < 500, (fields, answer.status)
        assert '<form method="post" action="/console/account/restore"' in answer.html
    assert owner.get("/console/account").status == 200
    assert owner.get("/console/account/nope").status == 404
    assert owner.request("PUT", "/console/account").status in {404, 405}

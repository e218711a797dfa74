"""The console's profile, two-step sign-in, password and sessions pages, driven over HTTP against `python -m local`."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, Page, signed_up
from tests.e2e.console_people import SESSION_COOKIE, actions, advance, api, bearer, now, token_of

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "copper meadow lantern drift 77"  # pragma: allowlist secret


def _secret(page: Page) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)</span>', page.html)
    assert found, page.html[:3000]
    return found.group(1).replace(" ", "")


def _codes(page: Page) -> list[str]:
    block = re.search(r'<ul class="codes".*?</ul>', page.html, re.S)
    return re.findall(r"<code>([^<]+)</code>", block.group(0)) if block else []


def _login(stack: LocalStack, email: str, code: str = "") -> tuple[ConsoleBrowser, Page]:
    browser = ConsoleBrowser(stack)
    page = browser.submit("/console/login", "/console/login", email=email, password=PASSWORD, code=code)
    return browser, page


def test_profile_and_sessions_pages_show_who_is_signed_in(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    profile = browser.get("/console/profile")
    assert profile.status == 200
    text = profile.text()
    assert email in text and "owner" in text and "Two-step sign-in Off" in text
    assert {"/console/profile/totp", "/console/profile/password"} <= set(actions(profile))
    assert profile.html.count("<h1>") == 1
    sessions = browser.get("/console/sessions")
    assert sessions.status == 200
    assert "This session" in sessions.text() and browser.user_agent in sessions.text()
    assert '<th scope="col">' in sessions.html and 'class="table-wrap"' in sessions.html


def test_totp_enrolment_through_the_pages_then_signing_in_needs_a_code(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    started = browser.submit("/console/profile", "/console/profile/totp")
    assert started.status == 200
    svg = re.search(r"<svg[^>]*>.*?</svg>", started.html, re.S)
    assert svg and "<title>" in svg.group(0) and 'role="img"' in svg.group(0)
    assert "style=" not in started.html  # the CSP forbids inline styles: the QR code has none
    totp = pyotp.TOTP(_secret(started))

    wrong = browser.post(
        "/console/profile/totp/activate", {**started.form("/console/profile/totp/activate"), "code": "000000"}
    )
    assert wrong.status == 422 and wrong.error("code")
    assert "/console/profile/totp" in actions(wrong)  # start again, or try the next code from the same key
    code = totp.at(now(stack))
    activated = browser.post(
        "/console/profile/totp/activate", {**wrong.form("/console/profile/totp/activate"), "code": code}
    )
    assert activated.status == 200, activated.text()[:800]
    codes = _codes(activated)
    assert len(codes) == 10 and "Store these codes now" in activated.text()

    again = browser.get("/console/profile")  # shown once: the profile never shows them again
    assert "Two-step sign-in On" in again.text()
    assert not any(c in again.html for c in codes)
    assert api(stack, browser, "GET", "/v1/me").json()["mfa_enabled"] is True

    browser.submit("/console/profile", "/console/logout")
    _, no_code = _login(stack, email)
    assert no_code.status == 401 and no_code.error("code")
    advance(stack, 30)  # the activation's step is spent: the next one signs in
    signed_in, page = _login(stack, email, code=totp.at(now(stack)))
    assert SESSION_COOKIE in signed_in.cookies, page.text()[:500]
    with_recovery, page = _login(stack, email, code=codes[0])
    assert SESSION_COOKIE in with_recovery.cookies, page.text()[:500]

    # New recovery codes (a fresh code), shown once; the old set stops working.
    advance(stack, 30)
    fresh = signed_in.submit("/console/profile", "/console/profile/recovery-codes", code=totp.at(now(stack)))
    new_codes = _codes(fresh)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    _, old = _login(stack, email, code=codes[1])
    assert old.status == 401 and old.error("code")

    # Off: a wrong password is shown beside its field and changes nothing; then password and a code turn it off.
    advance(stack, 30)
    refused = signed_in.submit(
        "/console/profile",
        "/console/profile/totp/disable",
        password="not the password at all",  # pragma: allowlist secret
        off_code="123456",
    )
    assert refused.status == 401 and refused.error("password")
    assert api(stack, signed_in, "GET", "/v1/me").json()["mfa_enabled"] is True
    off = signed_in.submit(
        "/console/profile", "/console/profile/totp/disable", password=PASSWORD, off_code=new_codes[0]
    )
    assert off.status == 200 and "Two-step sign-in is off" in off.text()
    assert api(stack, signed_in, "GET", "/v1/me").json()["mfa_enabled"] is False


def test_password_change_errors_beside_the_fields_then_other_sessions_end(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    other = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    short = browser.submit(
        "/console/profile",
        "/console/profile/password",  # pragma: allowlist secret
        current_password=PASSWORD,  # pragma: allowlist secret
        new_password="short",  # pragma: allowlist secret
    )
    assert short.status == 400 and "at least 15" in short.error("new_password")
    wrong = browser.submit(
        "/console/profile",
        "/console/profile/password",
        current_password="wrong wrong wrong 1",  # pragma: allowlist secret
        new_password=NEW_PASSWORD,
    )
    assert wrong.status == 401 and wrong.error("current_password")
    assert browser.get("/console/profile").status == 200  # a wrong password is the form's error, not a sign-out
    changed = browser.submit(
        "/console/profile", "/console/profile/password", current_password=PASSWORD, new_password=NEW_PASSWORD
    )
    assert changed.status == 200 and "Your password is changed" in changed.text()
    assert stack.request("GET", "/v1/me", headers=bearer(other)).status == 401
    assert api(stack, browser, "GET", "/v1/me").status == 200
    assert stack.request("POST", "/v1/sessions", {"email": email, "password": NEW_PASSWORD}).status == 201


def test_sessions_end_one_every_other_then_all(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    tokens = [
        stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"] for _ in range(3)
    ]
    page = browser.get("/console/sessions")
    ends = [a for a in actions(page) if re.fullmatch(r"/console/sessions/[^/]+/revoke", a)]
    assert len(ends) == 3  # every session but this one has its own button
    alive = {t for t in tokens if stack.request("GET", "/v1/me", headers=bearer(t)).status == 200}
    ended = browser.submit("/console/sessions", ends[0])
    assert ended.status == 200 and "That session has ended" in ended.text()
    still = {t for t in tokens if stack.request("GET", "/v1/me", headers=bearer(t)).status == 200}
    assert len(alive) - len(still) == 1

    others = browser.submit("/console/sessions", "/console/sessions/revoke-others")
    assert "Every other session has ended" in others.text()
    assert all(stack.request("GET", "/v1/me", headers=bearer(t)).status == 401 for t in tokens)
    assert api(stack, browser, "GET", "/v1/me").status == 200

    mine = token_of(browser)
    everything = browser.submit("/console/sessions", "/console/sessions/revoke-all")
    assert "/console/login" in everything.url and "Every session has ended" in everything.text()
    assert SESSION_COOKIE not in browser.cookies
    assert stack.request("GET", "/v1/me", headers=bearer(mine)).status == 401


def test_unknown_and_foreign_session_ids_are_404_pages(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    stranger, _ = signed_up(stack, account_name="Stranger Co")
    theirs = api(stack, stranger, "GET", "/v1/sessions").json()["data"][0]["id"]
    form = browser.get("/console/sessions").form("/console/sessions/revoke-others")
    for session_id in (theirs, "ses_doesnotexist", "x" * 100):
        page = browser.post(f"/console/sessions/{session_id}/revoke", form)
        assert page.status == 404, (session_id, page.status)
    assert api(stack, stranger, "GET", "/v1/me").status == 200


def test_sensitive_forms_after_five_minutes_go_through_reauth_and_back(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    advance(stack, 301)
    asked = browser.submit("/console/profile", "/console/profile/totp", follow=False)
    assert asked.status == 303 and asked.location.startswith("/console/reauth?next=%2Fconsole%2Fprofile")
    reauth = browser.get(asked.location)
    back = browser.post("/console/reauth", {**reauth.form("/console/reauth"), "password": PASSWORD})
    assert back.url.startswith("/console/profile") and "Confirmed" in back.text()
    started = browser.submit("/console/profile", "/console/profile/totp")
    assert started.status == 200 and _secret(started)


def test_profile_posts_without_the_csrf_field_are_refused_and_change_nothing(stack: LocalStack) -> None:
    browser, email = signed_up(stack)
    for action, fields in (
        ("/console/profile/totp", {}),
        ("/console/profile/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/console/sessions/revoke-all", {}),
    ):
        page = browser.post(action, fields)
        assert page.status == 403, action
    assert api(stack, browser, "GET", "/v1/me").json()["mfa_enabled"] is False
    assert stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).status == 201


def test_no_input_makes_a_server_error(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    browser.submit("/console/profile", "/console/profile/totp")
    form = browser.get("/console/profile").form("/console/profile/password")
    for value in ("", "٣٣٣٣٣٣", "x" * 5000, "\u202e1234", "' OR 1=1 --", "🙂" * 40):
        for action, fields in (
            ("/console/profile/totp/activate", {"code": value}),
            ("/console/profile/password", {"current_password": value, "new_password": value}),
            ("/console/profile/recovery-codes", {"code": value}),
            ("/console/profile/totp/disable", {"password": value, "off_code": value}),
        ):
            page = browser.post(action, {**form, **fields})
            assert page.status < 500, (action, value[:20], page.status, page.text()[:300])
    assert browser.get("/console/profile").status == 200  # still signed in: bad input is never a sign-out

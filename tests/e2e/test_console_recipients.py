"""The console's recipient pages against the local stack: create with errors beside the fields, consent and its
ledger, erasure; a viewer sees masked numbers and no write controls, and the server refuses its forged forms;
other accounts' and garbage ids are the 404 page; a form without its CSRF field changes nothing."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import Answer, LocalStack
from tests.e2e.console_forms import PASSWORD, ConsoleBrowser, Page, signed_up, token_for, unique_email

pytestmark = pytest.mark.e2e
SESSION = "__Host-sb_session"


def token_of(browser: ConsoleBrowser) -> str:
    """The API session token the browser's cookie carries (the test reads it to check results through the API)."""
    return browser.cookies[SESSION].split("~")[0]


def api(stack: LocalStack, browser: ConsoleBrowser, method: str, path: str, body: Any = None) -> Answer:
    """The public API as the browser's signed-in person."""
    return stack.request(method, path, body, headers={"Authorization": f"Bearer {token_of(browser)}"})


def phone() -> str:
    """A valid US number of the 555-01xx range, new for each test."""
    return f"+1415555{secrets.randbelow(10_000):04d}"


def member(stack: LocalStack, owner: ConsoleBrowser, role: str) -> ConsoleBrowser:
    """A member with `role` invited through the API, accepted from the e-mailed token, signed in through the console."""
    email = unique_email(role)
    invited = api(stack, owner, "POST", "/v1/members", {"email": email, "role": role})
    assert invited.status in {201, 202}, invited.text
    accepted = stack.request("POST", "/v1/invitations/accept", {"token": token_for(stack, email), "password": PASSWORD})
    assert accepted.status in {200, 201}, accepted.text
    browser = ConsoleBrowser(stack)
    browser.submit("/console/login", "/console/login", email=email, password=PASSWORD)
    assert SESSION in browser.cookies
    return browser


def csrf_of(page: Page) -> dict[str, str]:
    """The CSRF field of any form on the page (the sign-out form has one): what a forged form of a member has."""
    _, fields = page.forms()[0]
    return {k: v for k, v in fields.items() if k != "idempotency_key"}


def recipient_via_page(browser: ConsoleBrowser, number: str, name: str = "Ada") -> str:
    page = browser.submit("/console/recipients", "/console/recipients", phone=number, name=name)
    assert page.status == 200, page.text()[:500]
    found = re.fullmatch(r"/console/recipients/(rcp_[0-9a-z]+)\?notice=recipient_created", page.url)
    assert found, page.url
    return found.group(1)


def test_a_recipient_is_created_consented_and_erased_through_the_pages(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    empty = browser.get("/console/recipients")
    assert empty.status == 200
    assert "No recipients yet" in empty.text()

    # Errors beside their fields: the console's own check, then the API's numbering-plan check.
    for wrong, expected in (("+1415", "E.164"), ("0044 20", "E.164"), ("+10000000000", "")):
        page = browser.submit("/console/recipients", "/console/recipients", phone=wrong, name="Ada")
        assert page.status in {400, 422}, (wrong, page.status)
        assert expected in page.error("phone"), (wrong, page.html[:3000])
        assert page.error("phone"), wrong
    assert api(stack, browser, "GET", "/v1/recipients").json()["data"] == []

    number = phone()
    rid = recipient_via_page(browser, number, "Ada Lovelace")
    details = browser.get(f"/console/recipients/{rid}")
    assert "Ada Lovelace" in details.text() and number in details.text()
    assert "No consent recorded yet" in details.text()

    # The same number again: 409, said beside the phone, with a link to the one that exists.
    again = browser.submit("/console/recipients", "/console/recipients", phone=number, name="Ada again")
    assert again.status == 409
    assert "already a recipient" in again.error("phone")
    assert f'href="/console/recipients/{rid}"' in again.html

    # Consent: an opted-in entry through the form is the ledger's newest entry and the API's current consent.
    page = browser.submit(
        f"/console/recipients/{rid}",
        f"/console/recipients/{rid}/consents",
        channel="sms",
        status="opted_in",
        source="web_form",
    )
    assert page.status == 200 and "Consent recorded" in page.text()
    assert api(stack, browser, "GET", f"/v1/recipients/{rid}").json()["consent"]["sms"] == "opted_in"
    ledger = api(stack, browser, "GET", f"/v1/recipients/{rid}/consents").json()["data"]
    assert [(e["channel"], e["status"], e["source"]) for e in ledger] == [("sms", "opted_in", "web_form")]
    assert re.search(r"SMS</td><td><span class=\"status opted_in\">", page.html.replace("\n", "")), page.html

    # A source only the platform records is refused beside the field, and nothing is appended.
    forged = browser.submit(
        f"/console/recipients/{rid}",
        f"/console/recipients/{rid}/consents",
        channel="whatsapp",
        status="opted_in",
        source="keyword",
    )
    assert forged.status == 422
    assert forged.error("source")
    assert len(api(stack, browser, "GET", f"/v1/recipients/{rid}/consents").json()["data"]) == 1

    # An opt-out then an opt-in over it needs evidence: said beside the evidence fields, then accepted with it.
    browser.submit(
        f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel="sms", status="opted_out"
    )
    refused = browser.submit(
        f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel="sms", status="opted_in"
    )
    assert refused.status == 422
    assert refused.error("evidence") or refused.error("evidence.text_version") or refused.error("evidence.captured_at")
    when = stack.request("POST", "/_local/clock", {"advance_s": 1}).json()["now"]
    accepted = browser.submit(
        f"/console/recipients/{rid}",
        f"/console/recipients/{rid}/consents",
        channel="sms",
        status="opted_in",
        **{"evidence.text_version": "signup-v3", "evidence.captured_at": when},
    )
    assert accepted.status == 200, accepted.text()[:800]
    assert "Overrides the account's opt-out" in accepted.text()
    entries = api(stack, browser, "GET", f"/v1/recipients/{rid}/consents").json()["data"]
    assert [e["status"] for e in entries] == ["opted_in", "opted_out", "opted_in"]
    shown = re.findall(r'<span class="status (opted_in|opted_out)">', accepted.html.split("Consent ledger")[1])
    assert shown == ["opted_in", "opted_out", "opted_in"]  # oldest first, as the API answers

    # Erasure needs the box ticked; without it nothing happens.
    unticked = browser.submit(f"/console/recipients/{rid}", f"/console/recipients/{rid}/erase")
    assert unticked.status == 422 and "cannot be undone" in unticked.error("confirm")
    assert api(stack, browser, "GET", f"/v1/recipients/{rid}").status == 200
    erased = browser.submit(f"/console/recipients/{rid}", f"/console/recipients/{rid}/erase", confirm="erase")
    assert erased.status == 200 and erased.url == "/console/recipients?notice=recipient_erased"
    assert "is erased" in erased.text()
    assert api(stack, browser, "GET", f"/v1/recipients/{rid}").status == 404
    assert browser.get(f"/console/recipients/{rid}").status == 404


def test_a_viewer_sees_masked_numbers_no_write_controls_and_its_forged_forms_are_refused(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    number = phone()
    rid = recipient_via_page(owner, number, "Grace")
    owner.submit(f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel="sms", status="opted_in")
    sent = owner.submit("/console/messages/new", "/console/messages/new", recipient_id=rid, channel="sms", body="Hi")
    assert sent.status == 200, sent.text()[:500]
    viewer = member(stack, owner, "viewer")

    listing = viewer.get("/console/recipients")
    assert listing.status == 200 and "Grace" in listing.text()
    assert number not in listing.html and f"+1******{number[-4:]}" in listing.html
    assert not any(action == "/console/recipients" for action, _ in listing.forms())
    details = viewer.get(f"/console/recipients/{rid}")
    assert details.status == 200 and number not in details.html
    actions = {action for action, _ in details.forms()}
    assert actions == {"/console/logout"}, actions  # no consent form, no erase form, no send link
    assert "/console/messages/new" not in details.html
    log = viewer.get("/console/messages")
    assert log.status == 200 and number not in log.html and f"+1******{number[-4:]}" in log.html
    assert "/console/messages/new" not in log.html
    assert viewer.get("/console/messages/new").status == 403

    # Forged forms with the viewer's own valid CSRF token: the API refuses, nothing changes.
    token = csrf_of(listing)
    for path, fields in (
        ("/console/recipients", {"phone": phone(), "name": "Forged"}),
        (f"/console/recipients/{rid}/consents", {"channel": "sms", "status": "opted_out", "source": "web_form"}),
        (f"/console/recipients/{rid}/erase", {"confirm": "erase"}),
        ("/console/messages/new", {"recipient_id": rid, "channel": "sms", "body": "forged"}),
    ):
        answer = viewer.post(path, {**token, **fields})
        assert answer.status == 403, (path, answer.status, answer.text()[:300])
    assert [r["id"] for r in api(stack, owner, "GET", "/v1/recipients").json()["data"]] == [rid]
    assert api(stack, owner, "GET", f"/v1/recipients/{rid}").json()["consent"]["sms"] == "opted_in"
    assert len(api(stack, owner, "GET", "/v1/messages").json()["data"]) == 1


def test_other_accounts_and_garbage_ids_are_the_not_found_page(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    theirs = recipient_via_page(owner, phone())
    stranger, _ = signed_up(stack)
    assert stranger.get(f"/console/recipients/{theirs}").status == 404
    token = csrf_of(stranger.get("/console/recipients"))
    erase = stranger.post(f"/console/recipients/{theirs}/erase", {**token, "confirm": "erase"})
    assert erase.status == 404
    opt_out = {**token, "channel": "sms", "status": "opted_out", "source": "web_form"}
    assert stranger.post(f"/console/recipients/{theirs}/consents", opt_out).status == 404
    assert api(stack, owner, "GET", f"/v1/recipients/{theirs}").status == 200
    for garbage in ("x", "rcp_" + "z" * 96, "rcp_" + "z" * 97, "%2E%2E", "%C3%A9t%C3%A9", "rcp_%00", "..%2F..%2Fv1"):
        page = stranger.get(f"/console/recipients/{garbage}")
        assert page.status in {400, 404}, (garbage, page.status)
    cursor = stranger.get("/console/recipients?cursor=" + "%F0%9F%98%80" * 40)
    assert 400 <= cursor.status < 500, cursor.status


def test_recipient_forms_without_the_csrf_field_change_nothing(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    rid = recipient_via_page(browser, phone())
    for path, fields in (
        ("/console/recipients", {"phone": phone(), "name": "No token"}),
        (f"/console/recipients/{rid}/consents", {"channel": "sms", "status": "opted_in", "source": "web_form"}),
        (f"/console/recipients/{rid}/erase", {"confirm": "erase"}),
    ):
        assert browser.post(path, fields).status == 403, path
    assert [r["id"] for r in api(stack, browser, "GET", "/v1/recipients").json()["data"]] == [rid]
    assert api(stack, browser, "GET", f"/v1/recipients/{rid}/consents").json()["data"] == []

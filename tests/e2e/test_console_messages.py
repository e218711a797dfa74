"""The console's message pages against the local stack: a send through the form reaches `delivered` on its page,
whose timeline lists the events and attempts in order; a double-submitted form sends once; `consent_required` is
explained with a link to the consent; errors beside the fields; the log's filters; foreign ids; CSRF."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import ConsoleBrowser, Page, signed_up
from tests.e2e.test_console_recipients import api, csrf_of, phone, recipient_via_page

pytestmark = pytest.mark.e2e


def consented(browser: ConsoleBrowser, channel: str = "sms") -> str:
    """A recipient made through the page, opted in on `channel` through the page."""
    rid = recipient_via_page(browser, phone(), "Ada")
    page = browser.submit(
        f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel=channel, status="opted_in"
    )
    assert page.status == 200, page.text()[:500]
    return rid


def message_id(page: Page) -> str:
    found = re.fullmatch(r"/console/messages/(msg_[0-9a-z]+)\?notice=message_queued", page.url)
    assert found, (page.url, page.text()[:800])
    return found.group(1)


def badge(page: Page) -> str:
    """The status badge at the top of a message's page."""
    found = re.search(r'<h1>.*?</h1>\s*<p><span class="status (\w+)">', page.html, re.S)
    assert found, page.html[:2000]
    return found.group(1)


def test_a_message_sent_through_the_form_is_delivered_and_its_timeline_is_in_order(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    empty = browser.get("/console/messages")
    assert empty.status == 200 and "No messages yet" in empty.text()
    assert 'href="/console/messages/new"' in empty.html
    rid = consented(browser)

    form = browser.get(f"/console/messages/new?recipient_id={rid}")
    assert form.form("/console/messages/new")["recipient_id"] == rid  # preselected from the recipient's page
    sent = browser.submit(
        f"/console/messages/new?recipient_id={rid}", "/console/messages/new", channel="sms", body="Your table is ready"
    )
    assert sent.status == 200
    mid = message_id(sent)
    assert "Message queued" in sent.text() and "Your table is ready" in sent.text()

    # Poll the page as a person would (its Refresh link) until the sandbox's receipt arrives.
    deadline = time.monotonic() + 20
    page = sent
    while badge(page) != "delivered":
        assert time.monotonic() < deadline, page.text()[:1500]
        assert f'href="/console/messages/{mid}" class="refresh"' in page.html  # not settled: a Refresh link
        time.sleep(0.2)
        page = browser.get(f"/console/messages/{mid}")
    assert "Refresh" not in page.text()  # delivered SMS is settled

    log = api(stack, browser, "GET", f"/v1/messages/{mid}").json()
    assert log["status"] == "delivered" and log["carrier"] in page.text()
    assert log["from"] in page.text() and log["to"] in page.text()
    items = re.findall(r'<li class="(event|attempt)">(.*?)</li>', page.html, re.S)
    shown = [
        (kind, re.search(r'class="status (?:outcome-)?(\w+)"', body).group(1))  # type: ignore[union-attr]
        for kind, body in items
    ]
    expected = [("event", e["status"]) for e in log["events"]] + [("attempt", a["outcome"]) for a in log["attempts"]]
    assert sorted(shown) == sorted(expected)
    assert [s for s in shown if s[0] == "event"] == [("event", s) for s in ("queued", "sending", "sent", "delivered")]
    order = [s[1] for s in shown]
    assert order.index("accepted") > order.index("sending") and order.index("accepted") < order.index("sent")
    times = re.findall(r'<time datetime="([^"]+)">', page.html)
    assert times == sorted(times)

    listed = browser.get("/console/messages")
    assert f'href="/console/messages/{mid}"' in listed.html and "delivered" in listed.text()
    delivered = browser.get("/console/messages?status=delivered&channel=sms")
    assert f'href="/console/messages/{mid}"' in delivered.html
    failed = browser.get("/console/messages?status=failed")
    assert failed.status == 200 and mid not in failed.html and "No message matches" in failed.text()
    today = log["created_at"][:10]
    assert mid in browser.get(f"/console/messages?since={today}&until={today}").html
    assert mid not in browser.get("/console/messages?until=2001-01-01").html


def test_a_double_submitted_send_form_sends_once(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    rid = consented(browser)
    form = browser.get("/console/messages/new").form("/console/messages/new")
    form.update(recipient_id=rid, channel="sms", body="Only once")
    first = browser.post("/console/messages/new", form)
    second = browser.post("/console/messages/new", form)  # the same form again: same Idempotency-Key, same body
    assert message_id(first) == message_id(second)
    assert [m["id"] for m in api(stack, browser, "GET", "/v1/messages").json()["data"]] == [message_id(first)]
    # A new form is a new send.
    third = browser.submit("/console/messages/new", "/console/messages/new", recipient_id=rid, body="Again")
    assert message_id(third) != message_id(first)
    assert len(api(stack, browser, "GET", "/v1/messages").json()["data"]) == 2


def test_consent_required_is_explained_with_a_link_to_the_consent(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    rid = recipient_via_page(browser, phone(), "Nobody asked")
    page = browser.submit("/console/messages/new", "/console/messages/new", recipient_id=rid, channel="sms", body="Hi")
    assert page.status == 422
    assert "Why it was not sent" in page.text() and "opted in" in page.text()
    assert f'href="/console/recipients/{rid}#consent"' in page.html
    assert page.form("/console/messages/new")["body"] == "Hi"  # what was typed is kept
    assert api(stack, browser, "GET", "/v1/messages").json()["data"] == []
    # Opted in on SMS only: WhatsApp is still refused.
    browser.submit(
        f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel="sms", status="opted_in"
    )
    whatsapp = browser.submit(
        "/console/messages/new", "/console/messages/new", recipient_id=rid, channel="whatsapp", body="Hi"
    )
    assert whatsapp.status == 422 and f'href="/console/recipients/{rid}#consent"' in whatsapp.html


def test_send_form_errors_are_beside_their_fields_and_nothing_is_sent(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    rid = consented(browser)
    for fields, name, words in (
        ({"to": "12345", "recipient_id": "", "body": "Hi"}, "to", "E.164"),
        ({"to": "+1415555", "recipient_id": "", "body": "Hi"}, "to", ""),  # E.164's shape: the API's plan check
        ({"to": "", "recipient_id": "", "body": "Hi"}, "to", "one of the two"),
        ({"to": "+14155550123", "recipient_id": rid, "body": "Hi"}, "to", "one of the two"),
        ({"recipient_id": rid, "body": "   "}, "body", "Write"),
        ({"recipient_id": rid, "body": "x" * 1601}, "body", "1600"),
        ({"recipient_id": rid, "body": "Hi", "channel": "pigeon"}, "channel", "channel"),
        ({"recipient_id": "rcp_" + "0" * 26, "body": "Hi"}, "recipient_id", "No such recipient"),
        ({"recipient_id": "../../v1/account", "body": "Hi"}, "recipient_id", "Choose"),
    ):
        form = browser.get("/console/messages/new").form("/console/messages/new")
        page = browser.post("/console/messages/new", {**form, "channel": "sms", **fields})
        assert 400 <= page.status < 500, (fields, page.status)
        assert page.error(name) and words in page.error(name), (fields, name, page.error(name), page.text()[:600])
    # Unicode and the longest body are sent as they are.
    page = browser.submit(
        "/console/messages/new", "/console/messages/new", recipient_id=rid, channel="sms", body="Grüße 👋 " + "é" * 1590
    )
    assert page.status == 200, page.text()[:600]
    assert api(stack, browser, "GET", f"/v1/messages/{message_id(page)}").json()["body"].startswith("Grüße 👋 ")


def test_log_filters_refuse_bad_values_beside_the_field(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    for query, name in (
        ("status=bogus", "status"),
        ("channel=fax", "channel"),
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
    ):
        page = browser.get(f"/console/messages?{query}")
        assert page.status == 422, (query, page.status)
        assert page.error(name), (query, page.text()[:500])
    assert 400 <= browser.get("/console/messages?cursor=not-a-cursor").status < 500


def test_other_accounts_messages_garbage_ids_and_forms_without_csrf(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    rid = consented(owner)
    mid = message_id(owner.submit("/console/messages/new", "/console/messages/new", recipient_id=rid, body="Hi"))
    stranger, _ = signed_up(stack)
    assert stranger.get(f"/console/messages/{mid}").status == 404
    token = csrf_of(stranger.get("/console/messages"))
    assert stranger.post(f"/console/messages/{mid}/cancel", token).status == 404
    theirs = stranger.post("/console/messages/new", {**token, "recipient_id": rid, "channel": "sms", "body": "x"})
    assert theirs.status == 404 and "No such recipient" in theirs.error("recipient_id")
    for garbage in ("msg_", "msg_" + "0" * 96, "%F0%9F%93%A8", "msg_%0D%0Aset-cookie", "-" * 101):
        assert stranger.get(f"/console/messages/{garbage}").status in {400, 404}, garbage
    assert api(stack, stranger, "GET", "/v1/messages").json()["data"] == []

    # Without the CSRF field: refused, nothing sent or canceled.
    assert (
        owner.post("/console/messages/new", {"recipient_id": rid, "channel": "sms", "body": "No token"}).status == 403
    )
    assert owner.post(f"/console/messages/{mid}/cancel", {}).status == 403
    assert [m["id"] for m in api(stack, owner, "GET", "/v1/messages").json()["data"]] == [mid]

"""The console's content pages against the local stack: conversations (an inbound message, its thread, a reply, mark
read), files and recordings (lists, details, downloads through the console as attachments with the API's bytes and
type, delete), empty states, role-awareness, other accounts' ids and forms without CSRF."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from switchboard.carriers import sandbox
from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import ConsoleBrowser, signed_up
from tests.e2e.test_console_recipients import api, csrf_of, member, phone, recipient_via_page, token_of

pytestmark = pytest.mark.e2e


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def raw_get(browser: ConsoleBrowser, path: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    """A GET with the browser's cookies, answered as bytes (ConsoleBrowser decodes answers as text)."""
    cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    request = urllib.request.Request(browser.stack.base_url + path, headers={"Cookie": cookies, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def sender(stack: LocalStack, browser: ConsoleBrowser, channel: str) -> str:
    senders = api(stack, browser, "GET", "/v1/account").json()["senders"]
    return str(next(s["number"] for s in senders if s["channel"] == channel))


def poll(check: Any, what: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    pytest.fail(f"never: {what}")


def test_a_new_account_sees_empty_states_that_say_what_to_do(stack: LocalStack) -> None:
    browser, _ = signed_up(stack)
    for path, words in (
        ("/console/conversations", "When someone writes to one of your numbers"),
        ("/console/files", "Files you upload through the API"),
        ("/console/recordings", "Voice messages sent with recording on"),
    ):
        page = browser.get(path)
        assert page.status == 200 and words in page.text(), path
        assert page.html.count("<h1>") == 1


def test_an_inbound_message_is_a_conversation_that_an_agent_answers_and_marks_read(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    number = phone()
    inbound = {"from": number, "to": sender(stack, owner, "sms"), "body": "Is my table ready?"}
    assert stack.request("POST", "/_local/carriers/sandbox-a/inbound", inbound).status == 200
    listing = poll(lambda: (p := owner.get("/console/conversations")) and number in p.html and p, "listed")
    assert "1 unread" in listing.text() and "from them" in listing.text()
    rid = next(c["recipient_id"] for c in api(stack, owner, "GET", "/v1/conversations").json()["data"])
    assert f'href="/console/conversations/{rid}"' in listing.html

    agent = member(stack, owner, "agent")
    thread = agent.get(f"/console/conversations/{rid}")
    assert thread.status == 200 and "Is my table ready?" in thread.text() and "They wrote" in thread.text()

    # Errors beside the field; a channel they never wrote on is refused by the API; nothing is queued.
    empty = agent.submit(f"/console/conversations/{rid}", f"/console/conversations/{rid}/reply", body=" ")
    assert empty.status == 422 and empty.error("body")
    closed = agent.submit(
        f"/console/conversations/{rid}", f"/console/conversations/{rid}/reply", channel="voice", body="Calling"
    )
    assert closed.status == 422 and 'role="alert"' in closed.html
    assert api(stack, owner, "GET", "/v1/messages").json()["data"] == []

    replied = agent.submit(
        f"/console/conversations/{rid}", f"/console/conversations/{rid}/reply", channel="sms", body="Yes, come in!"
    )
    assert replied.status == 200 and "Reply queued" in replied.text() and "Yes, come in!" in replied.text()
    [listed] = api(stack, owner, "GET", "/v1/messages").json()["data"]
    ours = api(stack, owner, "GET", f"/v1/messages/{listed['id']}").json()
    assert ours["body"] == "Yes, come in!" and ours["recipient_id"] == rid
    assert f'href="/console/messages/{ours["id"]}"' in replied.html

    read = agent.submit(f"/console/conversations/{rid}", f"/console/conversations/{rid}/read")
    assert read.status == 200 and "Marked as read" in read.text()
    [row] = api(stack, owner, "GET", "/v1/conversations").json()["data"]
    assert row["unread_count"] == 0

    # A viewer reads the list with a masked number and no bodies, and has no reply or mark-read form.
    viewer = member(stack, owner, "viewer")
    seen = viewer.get(f"/console/conversations/{rid}")
    assert seen.status == 200 and number not in seen.html and "Is my table ready?" not in seen.html
    assert {action for action, _ in seen.forms()} == {"/console/logout"}
    forged = viewer.post(f"/console/conversations/{rid}/reply", {**csrf_of(seen), "channel": "sms", "body": "x"})
    assert forged.status == 403
    assert len(api(stack, owner, "GET", "/v1/messages").json()["data"]) == 1

    # Another account's recipient is not found; a form without its CSRF field does nothing.
    stranger, _ = signed_up(stack)
    assert stranger.get(f"/console/conversations/{rid}").status == 404
    assert agent.post(f"/console/conversations/{rid}/reply", {"channel": "sms", "body": "no token"}).status == 403
    assert len(api(stack, owner, "GET", "/v1/messages").json()["data"]) == 1


def test_files_are_listed_downloaded_through_the_console_and_deleted(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    data = sandbox.png(2, 2, payload=b"console download")
    uploaded = stack.request(
        "POST",
        "/v1/files",
        raw=data,
        headers={"Authorization": f"Bearer {token_of(owner)}", "Content-Type": "image/png"},
    )
    assert uploaded.status == 201, uploaded.text
    fid = uploaded.json()["id"]

    listing = owner.get("/console/files")
    assert listing.status == 200 and f'href="/console/files/{fid}"' in listing.html and "image/png" in listing.text()
    details = owner.get(f"/console/files/{fid}")
    assert details.status == 200 and hashlib.sha256(data).hexdigest() in details.html
    assert f'href="/console/files/{fid}/download"' in details.html

    # What a browser sends when a link is followed: the console's own RestApi (binaryMediaTypes */*) decodes the
    # bytes whatever the Accept, where the customer API would have answered base64 text (catalog.CONSOLE_PREFIX).
    status, headers, body = raw_get(owner, f"/console/files/{fid}/download", BROWSER_ACCEPT)
    assert status == 200 and body == data
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"] == f'attachment; filename="{fid}.png"'
    assert headers["x-content-type-options"] == "nosniff" and "no-store" in headers["cache-control"]

    # A viewer sees the file but no download or delete, and the server refuses both.
    viewer = member(stack, owner, "viewer")
    seen = viewer.get(f"/console/files/{fid}")
    assert seen.status == 200 and "/download" not in seen.html
    assert {action for action, _ in seen.forms()} == {"/console/logout"}
    assert raw_get(viewer, f"/console/files/{fid}/download", "application/octet-stream")[0] == 403
    assert viewer.post(f"/console/files/{fid}/delete", csrf_of(seen)).status == 403

    # Other accounts: not found; garbage ids: not found, never a 5xx.
    stranger, _ = signed_up(stack)
    assert stranger.get(f"/console/files/{fid}").status == 404
    assert raw_get(stranger, f"/console/files/{fid}/download", "application/octet-stream")[0] == 404
    assert stranger.post(f"/console/files/{fid}/delete", csrf_of(stranger.get("/console/files"))).status == 404
    for garbage in ("fil_", "fil_" + "9" * 96, "%E2%80%AE", "fil_x/download"):
        assert stranger.get(f"/console/files/{garbage}").status in {400, 404}, garbage

    # Without the CSRF field nothing is deleted; with it the file is gone.
    assert owner.post(f"/console/files/{fid}/delete", {}).status == 403
    assert api(stack, owner, "GET", f"/v1/files/{fid}").status == 200
    deleted = owner.submit(f"/console/files/{fid}", f"/console/files/{fid}/delete")
    assert deleted.status == 200 and "File deleted" in deleted.text()
    assert api(stack, owner, "GET", f"/v1/files/{fid}").status == 404
    assert owner.get(f"/console/files/{fid}").status == 404


def test_a_call_recording_is_listed_and_downloaded_by_owners_only(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    rid = recipient_via_page(owner, phone(), "Grace")
    owner.submit(
        f"/console/recipients/{rid}", f"/console/recipients/{rid}/consents", channel="voice", status="opted_in"
    )
    call = {"recipient_id": rid, "channel": "voice", "body": "Your results are in.", "record": True}
    sent = api(stack, owner, "POST", "/v1/messages", call)
    assert sent.status == 202, sent.text
    mid = sent.json()["id"]
    recording_id = poll(
        lambda: api(stack, owner, "GET", f"/v1/messages/{mid}").json().get("recording_id"), "the recording is stored"
    )
    meta = api(stack, owner, "GET", f"/v1/recordings/{recording_id}").json()

    listing = owner.get("/console/recordings")
    assert listing.status == 200 and f'href="/console/recordings/{recording_id}"' in listing.html
    assert f'href="/console/messages/{mid}"' in listing.html
    details = owner.get(f"/console/recordings/{recording_id}")
    assert details.status == 200 and meta["sha256"] in details.html
    assert f'href="/console/recordings/{recording_id}"' in owner.get(f"/console/messages/{mid}").html

    status, headers, body = raw_get(owner, f"/console/recordings/{recording_id}/download", BROWSER_ACCEPT)
    assert status == 200 and hashlib.sha256(body).hexdigest() == meta["sha256"] and len(body) == meta["size"]
    assert headers["content-type"] == meta["content_type"]
    assert headers["content-disposition"].startswith(f'attachment; filename="{recording_id}')
    accessed = api(stack, owner, "GET", "/v1/audit-events").json()["data"]
    assert any(e["type"] == "recording.accessed" for e in accessed)

    # Developers and viewers: no Recordings in the menu, and the pages are refused.
    for role in ("developer", "viewer"):
        other = member(stack, owner, role)
        assert 'href="/console/recordings"' not in other.get("/console/messages").html
        assert other.get("/console/recordings").status == 403
        assert other.get(f"/console/recordings/{recording_id}").status == 403
        assert raw_get(other, f"/console/recordings/{recording_id}/download", "application/octet-stream")[0] == 403
    stranger, _ = signed_up(stack)
    assert stranger.get(f"/console/recordings/{recording_id}").status == 404

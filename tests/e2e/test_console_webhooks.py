"""The console's webhook pages against the local stack: create (secret once), deliveries, rotate, delete, roles."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.console_forms import ConsoleBrowser, Page, signed_up
from tests.e2e.test_console_account import api, forged, member

pytestmark = pytest.mark.e2e

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_-]+")


@dataclass
class Receiver:
    """A loopback server that records each delivery (headers, raw body) and answers 200."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def wait_for(self, found: Callable[[dict[str, Any]], bool], timeout_s: float = 20) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for headers, body in list(self.received):
                if found(json.loads(body)):
                    return headers, body
            time.sleep(0.1)
        pytest.fail(f"no such delivery arrived: {[b[:200] for _, b in self.received]}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def signatures(headers: dict[str, str]) -> tuple[str, list[str]]:
    """`t` and every `v1` of a Switchboard-Signature header."""
    parts = [p.split("=", 1) for p in headers["switchboard-signature"].split(",")]
    return next(v for k, v in parts if k == "t"), [v for k, v in parts if k == "v1"]


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    t, values = signatures(headers)
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(v, expected) for v in values)


def inbound(stack: LocalStack, browser: ConsoleBrowser, text: str) -> None:
    """A recipient texts the account's SMS number (the sandbox signs it as a carrier would)."""
    senders = api(stack, browser, "GET", "/v1/account").json()["senders"]
    number = next(s["number"] for s in senders if s["channel"] == "sms")
    sent = stack.request(
        "POST", "/_local/carriers/sandbox-a/inbound", {"from": "+14155550177", "to": number, "body": text}
    )
    assert sent.status == 200, sent.text


def shown_secret(page: Page) -> str:
    found = SECRET.findall(page.html)
    assert len(found) == 1, page.text()[:1000]
    return str(found[0])


def endpoints(stack: LocalStack, browser: ConsoleBrowser) -> list[dict[str, Any]]:
    answer = api(stack, browser, "GET", "/v1/webhook-endpoints")
    assert answer.status == 200, answer.text
    return list(answer.json()["data"])


def create(browser: ConsoleBrowser, url: str, **events: str) -> Page:
    """Fill the page's create form (its default event checked) with `url` and `events` on top, and send it."""
    form = browser.get("/console/webhooks").form("/console/webhooks")
    return browser.post("/console/webhooks", {**form, "url": url, **events})


def test_created_endpoint_shows_its_secret_once_and_deliveries_verify_with_it(
    stack: LocalStack, receiver: Receiver
) -> None:
    owner, _ = signed_up(stack)
    empty = owner.get("/console/webhooks")
    assert empty.status == 200
    assert "No endpoints yet" in empty.text()

    created = create(owner, receiver.url, **{"event:message.status": "", "event:message.inbound": "on"})
    assert created.status == 200
    secret = shown_secret(created)
    assert "shown only on this page" in created.text()
    [endpoint] = endpoints(stack, owner)
    assert (endpoint["url"], endpoint["events"]) == (receiver.url, ["message.inbound"])
    assert endpoint["id"] in created.text()
    listed = owner.get("/console/webhooks")
    assert receiver.url in listed.text()
    assert secret not in listed.html  # never again
    assert not SECRET.search(owner.get(f"/console/webhooks/{endpoint['id']}").html)

    inbound(stack, owner, "first hello")
    headers, body = receiver.wait_for(lambda e: e["type"] == "message.inbound" and e["data"]["body"] == "first hello")
    assert signed_by(secret, headers, body)

    def logged() -> Page:
        deadline = time.monotonic() + 10
        while True:
            page = owner.get(f"/console/webhooks/{endpoint['id']}")
            if "delivered" in page.text() or time.monotonic() > deadline:
                return page
            time.sleep(0.2)

    log = logged()
    assert log.status == 200
    assert headers["switchboard-event-id"] in log.text()
    assert '<span class="status delivered">delivered</span>' in log.html
    assert "HTTP 200" in log.text()


def test_rotation_shows_the_new_secret_once_with_the_overlap_and_deliveries_carry_both(
    stack: LocalStack, receiver: Receiver
) -> None:
    owner, _ = signed_up(stack)
    secret = shown_secret(create(owner, receiver.url, **{"event:message.status": "", "event:message.inbound": "on"}))
    [endpoint] = endpoints(stack, owner)
    # The new secret once, the old one still signing beside it for the overlap the API answered.
    rotated = owner.submit(f"/console/webhooks/{endpoint['id']}", f"/console/webhooks/{endpoint['id']}/rotate")
    assert rotated.status == 200
    new_secret = shown_secret(rotated)
    assert new_secret != secret
    [after] = endpoints(stack, owner)
    assert after["secret_version"] == 2
    overlap_end = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.strptime(after["previous_secrets_expire_at"], "%Y-%m-%dT%H:%M:%SZ")
    )
    assert f"version 1 keeps signing beside the new one until {overlap_end}" in rotated.text()
    assert new_secret not in owner.get("/console/webhooks").html
    inbound(stack, owner, "second hello")
    headers, body = receiver.wait_for(lambda e: e["type"] == "message.inbound" and e["data"]["body"] == "second hello")
    assert signed_by(new_secret, headers, body)
    assert signed_by(secret, headers, body)
    assert len(signatures(headers)[1]) == 2

    # A leaked secret: no overlap, the old ones stop at once.
    leaked = owner.submit(
        f"/console/webhooks/{endpoint['id']}", f"/console/webhooks/{endpoint['id']}/rotate", grace_s="0"
    )
    newest = shown_secret(leaked)
    assert "only the new secret signs from now on" in leaked.text()
    assert endpoints(stack, owner)[0]["previous_secrets_expire_at"] is None
    inbound(stack, owner, "third hello")
    headers, body = receiver.wait_for(lambda e: e["type"] == "message.inbound" and e["data"]["body"] == "third hello")
    assert signed_by(newest, headers, body)
    assert not signed_by(new_secret, headers, body)


def test_a_refused_url_or_no_event_is_shown_beside_its_field_and_nothing_is_created(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    private = create(owner, "https://10.0.0.5/hooks")
    assert private.status == 422
    assert private.error("url")
    assert 'value="https://10.0.0.5/hooks"' in private.html  # what was typed stays
    none = create(owner, "http://127.0.0.1:9/x", **{"event:message.status": ""})
    assert none.status == 400
    assert none.error("events") == "Choose at least one event."
    long = create(owner, "https://example.com/" + "a" * 3000)
    assert long.status == 400
    assert long.error("url")
    for odd in ("", "gopher://ünïcødé/✉", "https://例え..テスト/フック", "http://127.0.0.1:9/\u202e"):
        answer = create(owner, odd)
        assert 400 <= answer.status < 500, (odd, answer.status)
    assert endpoints(stack, owner) == []


def test_delete_removes_the_endpoint_and_a_second_delete_is_not_found(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    create(owner, "http://127.0.0.1:9/gone")
    [endpoint] = endpoints(stack, owner)
    form = owner.get("/console/webhooks").form(f"/console/webhooks/{endpoint['id']}/delete")
    deleted = owner.post(f"/console/webhooks/{endpoint['id']}/delete", form)
    assert deleted.status == 200
    assert "The endpoint is deleted" in deleted.text()
    assert endpoints(stack, owner) == []
    again = owner.post(f"/console/webhooks/{endpoint['id']}/delete", form)
    assert again.status == 404
    assert owner.get(f"/console/webhooks/{endpoint['id']}").status == 404


def test_another_accounts_endpoint_is_not_found_and_stays_as_it_was(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    stranger, _ = signed_up(stack)
    create(owner, "http://127.0.0.1:9/mine")
    [endpoint] = endpoints(stack, owner)
    assert stranger.get(f"/console/webhooks/{endpoint['id']}").status == 404
    for action in ("rotate", "delete"):
        path = f"/console/webhooks/{endpoint['id']}/{action}"
        assert stranger.post(path, forged(stranger, path)).status == 404
    assert endpoints(stack, owner) == [endpoint]
    assert "http://127.0.0.1:9/mine" not in stranger.get("/console/webhooks").html
    for garbage in ("whe_" + "z" * 96, "nope", "-", "whe_01%2F..%2F"):
        assert stranger.get(f"/console/webhooks/{garbage}").status == 404
    assert 400 <= stranger.get("/console/webhooks?cursor=%E2%9C%89not-a-cursor").status < 500


def test_forms_without_the_csrf_field_are_refused_and_change_nothing(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    refused = owner.post("/console/webhooks", {"url": "http://127.0.0.1:9/x", "event:message.status": "on"})
    assert refused.status == 403
    assert endpoints(stack, owner) == []
    create(owner, "http://127.0.0.1:9/kept")
    [endpoint] = endpoints(stack, owner)
    for action in ("rotate", "delete"):
        assert owner.post(f"/console/webhooks/{endpoint['id']}/{action}", {"grace_s": "0"}).status == 403
    assert endpoints(stack, owner) == [endpoint]  # same secret version, still there


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_roles_without_webhooks_see_no_link_and_forged_posts_are_refused(stack: LocalStack, role: str) -> None:
    owner, _ = signed_up(stack)
    create(owner, "http://127.0.0.1:9/owners")
    [endpoint] = endpoints(stack, owner)
    other = member(stack, owner, role)
    home = other.get("/console/account")
    assert home.status == 200
    assert 'href="/console/webhooks"' not in home.html
    assert other.get("/console/webhooks").status == 403
    assert other.get(f"/console/webhooks/{endpoint['id']}").status == 403
    made = other.post(
        "/console/webhooks",
        forged(other, "/console/webhooks", url="http://127.0.0.1:9/theirs", **{"event:message.status": "on"}),
    )
    assert made.status == 403
    assert not SECRET.search(made.html)
    for action in ("rotate", "delete"):
        path = f"/console/webhooks/{endpoint['id']}/{action}"
        assert other.post(path, forged(other, path)).status == 403
    assert endpoints(stack, owner) == [endpoint]


def test_a_developer_manages_webhooks(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    developer = member(stack, owner, "developer")
    assert 'href="/console/webhooks"' in developer.get("/console/account").html
    created = create(developer, "http://127.0.0.1:9/dev")
    assert created.status == 200
    assert shown_secret(created)
    assert [e["url"] for e in endpoints(stack, owner)] == ["http://127.0.0.1:9/dev"]


def test_a_resent_form_creates_nothing_twice_and_a_full_overlap_is_explained(stack: LocalStack) -> None:
    owner, _ = signed_up(stack)
    form = {**owner.get("/console/webhooks").form("/console/webhooks"), "url": "http://127.0.0.1:9/once"}
    assert shown_secret(owner.post("/console/webhooks", form))
    again = owner.post("/console/webhooks", form)  # the same Idempotency-Key: a double click or a reload
    assert again.status == 409
    assert "This form was already sent" in again.text()
    assert not SECRET.search(again.html)
    [endpoint] = endpoints(stack, owner)

    rotate = f"/console/webhooks/{endpoint['id']}/rotate"
    for _ in range(2):
        assert shown_secret(owner.submit(f"/console/webhooks/{endpoint['id']}", rotate))
    full = owner.submit(f"/console/webhooks/{endpoint['id']}", rotate)
    assert full.status == 409
    assert "2 replaced secrets still signing" in full.text()
    assert not SECRET.search(full.html)
    assert endpoints(stack, owner)[0]["secret_version"] == 3

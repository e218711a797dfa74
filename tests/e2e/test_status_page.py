"""The status page through `make dev`'s stack: carrier circuits that really open degrade GET /status and the
published page after the job runs, and recover; the page is served from moto's S3 at /_local/status-page/."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest

from switchboard import catalog
from switchboard.carriers import circuit
from switchboard.logic.status_page import ATOM
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e
PASSWORD = "lantern quasar velvet plumbing"
CARRIERS = ("sandbox-a", "sandbox-b")


def components(stack: LocalStack) -> dict[str, str]:
    answer = stack.request("GET", "/status")
    assert answer.status == 200
    return {c["name"]: c["status"] for c in answer.json()["components"]}


def run_job(stack: LocalStack) -> dict[str, object]:
    answer = stack.request("POST", "/_local/jobs/status_page")
    assert answer.status == 200, answer.text
    report: dict[str, object] = answer.json()
    return report


@pytest.fixture
def owner(stack: LocalStack) -> Iterator[dict[str, str]]:
    """A verified owner's session header; the sandbox carriers are up again afterwards."""
    email = f"status-{secrets.token_hex(4)}@example.com"
    signup = {"email": email, "password": PASSWORD, "account_name": "Acme"}
    assert stack.request("POST", "/v1/signup", signup).status == 202
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    session = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    yield {"Authorization": f"Bearer {session}"}
    for carrier in CARRIERS:
        stack.request("PUT", f"/_local/carriers/{carrier}", {"state": "up"})


def test_open_circuits_degrade_the_status_and_it_recovers(stack: LocalStack, owner: dict[str, str]) -> None:
    run_job(stack)
    assert set(components(stack).values()) == {"operational"}
    recipient = stack.request("POST", "/v1/recipients", {"phone": "+14155550190"}, headers=owner).json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert stack.request("POST", f"/v1/recipients/{recipient}/consents", consent, headers=owner).status == 201
    for carrier in CARRIERS:
        assert stack.request("PUT", f"/_local/carriers/{carrier}", {"state": "down"}).status == 200
    # Every send fails on both carriers; the shared breakers open at their threshold of failures.
    for n in range(circuit.FAILURES_TO_OPEN):
        body = {"recipient_id": recipient, "channel": "sms", "body": f"try {n}"}
        assert stack.request("POST", "/v1/messages", body, headers=owner).status == 202
    deadline = time.monotonic() + 30
    while True:
        report = run_job(stack)
        health = report["health"]
        assert isinstance(health, dict)
        if health["sms"] == "outage" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # The local stage routes every channel through the sandbox carriers: with both circuits open all are down.
    assert components(stack) == {"api": "operational", "sms": "outage", "whatsapp": "outage", "voice": "outage",
                                 "webhooks": "operational"}  # fmt: skip
    assert stack.request("GET", "/status").json()["status"] == "outage"
    page = stack.request("GET", "/_local/status-page/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Outage" in page.text
    assert stack.request("GET", "/_local/status-page/status.json").json()["status"] == "outage"

    for carrier in CARRIERS:
        stack.request("PUT", f"/_local/carriers/{carrier}", {"state": "up"})
    # Past the cool-down the circuits are half-open: a probe may run, and the page no longer counts them.
    stack.request("POST", "/_local/clock", {"advance_s": circuit.COOLDOWN_S + 1})
    assert run_job(stack)["status"] == "operational"
    assert set(components(stack).values()) == {"operational"}


def test_the_page_is_served_from_the_bucket_with_its_feed(stack: LocalStack) -> None:
    run_job(stack)
    feed = stack.request("GET", "/_local/status-page/incidents.atom")
    assert feed.status == 200
    assert feed.headers["Content-Type"] == "application/atom+xml"
    assert feed.headers["Cache-Control"] == "public, max-age=60, stale-if-error=86400"
    root = ET.fromstring(feed.body)  # noqa: S314 - the stack's own feed
    assert root.tag == f"{{{ATOM}}}feed"
    assert root.findtext(f"{{{ATOM}}}id") == f"{stack.base_url}/_local/status-page/incidents.atom"
    html = stack.request("GET", "/_local/status-page/index.html")
    assert "script-src" not in html.headers["Content-Security-Policy"]
    assert stack.request("GET", "/_local/status-page/secrets.txt").status == 404
    assert stack.request("GET", "/_local/status-page/..%2Fopenapi.json").status == 404
    assert catalog.STATUS_PAGE.every_s == 60

"""The status page through `make dev`'s stack: carrier circuits that really open degrade GET /status and the
published page after the job runs, and recover; incidents opened with `switchboard-ops` show on /status, the HTML
page and the Atom feed; the page is served from moto's S3 at /_local/status-page/."""

# ruff: noqa: F811 - the operator API module's fixtures are imported by name and requested as parameters

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from ops_cli import incidents as incidents_cli
from ops_cli.client import Problem, local_client
from switchboard import catalog
from switchboard.carriers import circuit
from switchboard.logic.status_page import ATOM
from switchboard.models.status import COMPONENTS
from tests.e2e.conftest import LocalStack

# A stack of its own (its clock moves, its circuits open) whose operator keys live in a test directory: the
# operator API module's fixtures (module-scoped: this module gets its own stack), and its CLI runner.
from tests.e2e.test_operator_api import keys, ops, run_cli, stack  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e
PASSWORD = "lantern quasar velvet plumbing"  # pragma: allowlist secret
CARRIERS = ("sandbox-a", "sandbox-b")
HOSTILE = "<script>alert(1)</script> SMS delays & retries"


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
    deadline = time.monotonic() + 60  # the outbox waits 10 s for mail_worker; a loaded machine may need longer
    while not (mails := [m for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email]):
        assert time.monotonic() < deadline, "no verification e-mail"
    token = mails[0]["token"]
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


def test_an_incident_opened_with_switchboard_ops_shows_on_status_the_page_and_the_feed(
    stack: LocalStack, keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--profile", "alice", "--json", "incidents", "open", "--title", HOSTILE]
    argv += ["--component", "sms", "--component", "api", "--impact", "major", "--body", "Investigating."]
    status, out, err = run_cli(keys, monkeypatch, capsys, *argv)
    assert status == 0, err
    opened: dict[str, Any] = json.loads(out)
    incident_id = opened["id"]
    assert (opened["status"], opened["components"], opened["resolved_at"]) == ("investigating", ["sms", "api"], None)

    body = stack.request("GET", "/status").json()
    [shown] = [i for i in body["incidents"] if i["id"] == incident_id]
    assert shown["title"] == HOSTILE
    by_name = {c["name"]: c["status"] for c in body["components"]}
    assert by_name["sms"] == by_name["api"] == "degraded"

    status, out, err = run_cli(
        keys, monkeypatch, capsys, "--profile", "bob", "incidents", "update", incident_id,
        "--status", "identified", "--body", "A carrier drops 2% of sends.",
    )  # fmt: skip
    assert status == 0, err
    assert "identified" in out and "A carrier drops 2% of sends." in out  # the human rendering: fields + updates
    run_job(stack)
    page = stack.request("GET", "/_local/status-page/").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; SMS delays &amp; retries" in page
    assert "<script" not in page
    assert "A carrier drops 2% of sends." in page
    feed = ET.fromstring(stack.request("GET", "/_local/status-page/incidents.atom").body)  # noqa: S314 - our feed
    [entry] = [e for e in feed.findall(f"{{{ATOM}}}entry") if e.findtext(f"{{{ATOM}}}id", "").endswith(incident_id)]
    assert entry.findtext(f"{{{ATOM}}}title") == HOSTILE
    assert "identified: A carrier drops 2% of sends." in (entry.findtext(f"{{{ATOM}}}content") or "")

    status, out, err = run_cli(keys, monkeypatch, capsys, "--profile", "carol", "incidents", "list")
    assert status == 0, err  # support reads incidents
    assert out.splitlines()[0].split()[:3] == ["INCIDENT", "STATUS", "IMPACT"]
    assert any(line.startswith(incident_id) and "identified" in line for line in out.splitlines())

    status, out, err = run_cli(
        keys, monkeypatch, capsys, "--profile", "alice", "--json", "incidents", "resolve", incident_id,
        "--body", "Fixed: the carrier's fix is live.",
    )  # fmt: skip
    assert status == 0, err
    assert json.loads(out)["status"] == "resolved"
    assert json.loads(out)["resolved_at"] is not None
    status, _, err = run_cli(
        keys, monkeypatch, capsys, "--profile", "alice", "incidents", "resolve", incident_id, "--body", "Again."
    )
    assert status == 1
    assert "409 incident_resolved" in err
    run_job(stack)
    assert {c["name"]: c["status"] for c in stack.request("GET", "/status").json()["components"]}["sms"] == (
        "operational"
    )
    feed = ET.fromstring(stack.request("GET", "/_local/status-page/incidents.atom").body)  # noqa: S314 - our feed
    [entry] = [e for e in feed.findall(f"{{{ATOM}}}entry") if e.findtext(f"{{{ATOM}}}id", "").endswith(incident_id)]
    assert "resolved: Fixed: the carrier's fix is live." in (entry.findtext(f"{{{ATOM}}}content") or "")


def test_incident_actions_are_validated_and_need_the_security_role(
    stack: LocalStack, keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = local_client("alice", stack.base_url, keys)

    def refused(client: Any, method: str, path: str, body: Any = None) -> tuple[int, str]:
        with pytest.raises(Problem) as problem:
            client.request(method, path, body)
        return problem.value.status, problem.value.code

    good = {"title": "Webhook delays", "components": ["webhooks"], "impact": "minor", "body": "Looking."}
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "components": ["database"]})[0] in (400, 422)
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "components": []})[0] in (400, 422)
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "title": "x"})[0] in (400, 422)
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "title": "t" * 201})[0] in (400, 422)
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "body": "b" * 5001})[0] in (400, 422)
    assert refused(alice, "POST", "/ops/v1/incidents", {**good, "status": "resolved"})[0] == 422
    missing = "/ops/v1/incidents/inc_00000000000000000000000000/updates"
    assert refused(alice, "POST", missing, {"status": "identified", "body": "x"}) == (404, "not_found")
    assert refused(alice, "POST", "/ops/v1/incidents/..%2Fx/resolve", {"body": "x"})[0] == 404
    carol = local_client("carol", stack.base_url, keys)  # support: reads status, manages no incident
    assert refused(carol, "POST", "/ops/v1/incidents", good) == (403, "forbidden")
    assert "database" not in COMPONENTS
    assert incidents_cli.COMPONENTS == COMPONENTS
    # A customer credential never reaches an operator route.
    answer = stack.request("POST", "/ops/v1/incidents", good, headers={"Authorization": "Bearer sess_x"})
    assert answer.status in (401, 403)
    status, _, err = run_cli(keys, monkeypatch, capsys, "--profile", "carol", "incidents", "open", "--title",
                             "Nope", "--component", "api", "--impact", "minor")  # fmt: skip
    assert status == 1
    assert "403 forbidden" in err

"""The status page: thresholds that turn live signals into component health, escaped HTML and a valid Atom feed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from switchboard.logic import health, status
from switchboard.logic.status_page import ATOM, render_atom, render_html, render_json
from switchboard.models.status import COMPONENTS, Component, IncidentOut, IncidentUpdateOut, StatusOut

ROUTES = {"sms": ("twilio", "plivo"), "whatsapp": ("whatsapp", "twilio"), "voice": ("twilio", "plivo")}
NOW = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
DOCS = Path(__file__).resolve().parents[2] / "docs" / "status.md"
A = f"{{{ATOM}}}"


def signals(**overrides: object) -> health.Signals:
    values: dict[str, object] = {
        "dlq_depth": {"SmsSend": 0, "WhatsappSend": 0, "VoiceSend": 0, "Callbacks": 0, "Mail": 0},
        "queue_age_s": {"SmsSend": 3.0, "WhatsappSend": None, "VoiceSend": None, "Mail": None},
        "requests": 1000.0,
        "errors_5xx": 0.0,
        "open_circuits": frozenset(),
    }
    values.update(overrides)
    return health.Signals(**values)  # type: ignore[arg-type]


def statuses(readings: dict[str, health.Reading]) -> dict[str, str]:
    return {name: reading.status for name, reading in readings.items()}


def test_quiet_signals_leave_every_component_operational() -> None:
    readings = health.evaluate(signals(), ROUTES)
    assert set(readings) == set(COMPONENTS)
    assert set(statuses(readings).values()) == {"operational"}
    assert not any(r.reasons for r in readings.values())


def test_one_dead_letter_degrades_the_queue_s_component_only() -> None:
    readings = health.evaluate(signals(dlq_depth={"SmsSend": 0, "Callbacks": 1, "Mail": 0}), ROUTES)
    assert statuses(readings) == {**dict.fromkeys(COMPONENTS, "operational"), "webhooks": "degraded"}
    assert readings["webhooks"].reasons == ["Callbacks DLQ holds 1 message(s)"]
    mail = health.evaluate(signals(dlq_depth={"Mail": 2}), ROUTES)
    assert statuses(mail)["api"] == "degraded"  # signup and reset e-mail are part of the API


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (health.QUEUE_AGE_DEGRADED_S - 1, "operational"),
        (health.QUEUE_AGE_DEGRADED_S, "degraded"),
        (health.QUEUE_AGE_OUTAGE_S - 1, "degraded"),
        (health.QUEUE_AGE_OUTAGE_S, "outage"),
    ],
)
def test_send_queue_age_thresholds(age: float, expected: str) -> None:
    readings = health.evaluate(signals(queue_age_s={"VoiceSend": float(age)}), ROUTES)
    assert readings["voice"].status == expected
    assert readings["sms"].status == "operational"


def test_callback_queue_age_is_not_a_signal() -> None:
    # One customer's failing endpoint keeps its jobs retrying for a day: that is not our outage.
    readings = health.evaluate(signals(queue_age_s={"Callbacks": 86400.0}), ROUTES)
    assert readings["webhooks"].status == "operational"


@pytest.mark.parametrize(
    ("requests", "errors", "expected"),
    [
        (1000.0, 9.0, "operational"),
        (1000.0, 10.0, "degraded"),
        (1000.0, 99.0, "degraded"),
        (1000.0, 100.0, "outage"),
        (health.MIN_REQUESTS - 1, health.MIN_REQUESTS - 1, "operational"),  # too few requests to judge
        (None, 5.0, "operational"),
    ],
)
def test_api_5xx_ratio_thresholds(requests: float | None, errors: float, expected: str) -> None:
    readings = health.evaluate(signals(requests=requests, errors_5xx=errors), ROUTES)
    assert readings["api"].status == expected


def test_one_open_circuit_degrades_its_channels_and_all_open_is_an_outage() -> None:
    one = health.evaluate(signals(open_circuits=frozenset({"plivo"})), ROUTES)
    assert statuses(one) == {**dict.fromkeys(COMPONENTS, "operational"), "sms": "degraded", "voice": "degraded"}
    both = health.evaluate(signals(open_circuits=frozenset({"twilio", "plivo"})), ROUTES)
    assert both["sms"].status == both["voice"].status == "outage"
    assert both["whatsapp"].status == "degraded"  # WhatsApp's own carrier still works
    assert both["sms"].reasons == ["every carrier's circuit is open: twilio, plivo"]


def test_the_worst_signal_wins_and_every_reason_is_kept() -> None:
    readings = health.evaluate(
        signals(dlq_depth={"SmsSend": 3}, queue_age_s={"SmsSend": float(health.QUEUE_AGE_OUTAGE_S)}), ROUTES
    )
    assert readings["sms"].status == "outage"
    assert len(readings["sms"].reasons) == 2


def test_the_status_doc_documents_the_thresholds_in_force() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Live health") : text.index("### Why")]
    for number in (
        f"≥ {health.DLQ_DEGRADED} message",
        f"≥ {health.QUEUE_AGE_DEGRADED_S} s",
        f"≥ {health.QUEUE_AGE_OUTAGE_S} s",
        f"≥ {health.ERROR_RATIO_DEGRADED:.0%}",
        f"≥ {health.ERROR_RATIO_OUTAGE:.0%}",
        f"at least {health.MIN_REQUESTS} requests",
        f"older than {int(status.HEALTH_MAX_AGE.total_seconds() // 60)} minutes",
    ):
        assert number in text if number.startswith("older") else number in section, number


def page(title: str = HOSTILE, body: str = HOSTILE) -> StatusOut:
    incident = IncidentOut(
        id="inc_1",
        title=title,
        status="identified",
        impact="major",
        components=["sms"],
        started_at="2026-12-02T15:00:00Z",
        resolved_at=None,
        updates=[
            IncidentUpdateOut(status="identified", body=body, at="2026-12-02T15:30:00Z"),
            IncidentUpdateOut(status="investigating", body="Looking.", at="2026-12-02T15:00:00Z"),
        ],
    )
    resolved = IncidentOut(
        id="inc_0",
        title="Voice errors",
        status="resolved",
        impact="minor",
        components=["voice", "api"],
        started_at="2026-12-01T10:00:00Z",
        resolved_at="2026-12-01T11:00:00Z",
        updates=[IncidentUpdateOut(status="resolved", body="Fixed.", at="2026-12-01T11:00:00Z")],
    )
    components = [Component(name=n, status="degraded" if n == "sms" else "operational") for n in COMPONENTS]
    return StatusOut(status="degraded", components=components, incidents=[incident, resolved])


def test_html_page_escapes_every_incident_text_and_carries_no_script() -> None:
    html = render_html(page(), NOW)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "default-src 'none'" in html  # even a slip in escaping could not run a script
    assert html.count("<tr>") == len(COMPONENTS)
    assert "Degraded performance" in html
    assert 'id="inc_1"' in html and 'id="inc_0"' in html


def test_html_page_says_so_when_nothing_happened() -> None:
    quiet = StatusOut(
        status="operational", components=[Component(name=n, status="operational") for n in COMPONENTS], incidents=[]
    )
    html = render_html(quiet, NOW)
    assert "No incidents in the last 14 days." in html
    assert "2026-12-02T16:00:00Z" in html


def test_atom_feed_is_valid_atom_1_0_with_one_entry_per_incident() -> None:
    raw = render_atom(page(), page_url="https://status.switchboard.example/", generated_at=NOW)
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    feed = ET.fromstring(raw)  # noqa: S314 - our own feed, as a reader parses it
    assert feed.tag == f"{A}feed"
    # RFC 4287 4.1.1: a feed has exactly one id, title and updated, and an author (or every entry has one).
    for required in ("id", "title", "updated"):
        assert len(feed.findall(f"{A}{required}")) == 1, required
    assert feed.findtext(f"{A}author/{A}name") == "Switchboard"
    assert feed.findtext(f"{A}id") == "https://status.switchboard.example/incidents.atom"
    assert feed.findtext(f"{A}updated") == "2026-12-02T15:30:00Z"  # the newest update of any incident
    self_link = [link for link in feed.findall(f"{A}link") if link.get("rel") == "self"]
    assert self_link[0].get("href") == "https://status.switchboard.example/incidents.atom"
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}id") for e in entries] == [
        "https://status.switchboard.example/#inc_1",
        "https://status.switchboard.example/#inc_0",
    ]
    rfc3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    for entry in entries:
        for required in ("id", "title", "updated", "content"):
            assert len(entry.findall(f"{A}{required}")) == 1, required
        assert rfc3339.match(entry.findtext(f"{A}updated") or "")
    first, second = entries
    assert first.findtext(f"{A}title") == HOSTILE  # text, not markup: the parser gives the characters back
    assert b"<script>" not in raw
    assert first.find(f"{A}content").get("type") == "text"  # type: ignore[union-attr]
    assert "identified: " + HOSTILE in (first.findtext(f"{A}content") or "")
    assert second.findtext(f"{A}updated") == "2026-12-01T11:00:00Z"
    assert [c.get("term") for c in second.findall(f"{A}category")] == ["voice", "api"]


def test_atom_feed_without_incidents_is_still_valid() -> None:
    quiet = StatusOut(status="operational", components=[], incidents=[])
    raw = render_atom(quiet, page_url="http://127.0.0.1:8080/_local/status-page/", generated_at=NOW)
    feed = ET.fromstring(raw)  # noqa: S314 - our own feed, as a reader parses it
    assert feed.findtext(f"{A}updated") == "2026-12-02T16:00:00Z"
    assert feed.findall(f"{A}entry") == []


def test_status_json_is_get_status_s_answer_with_its_time() -> None:
    body = json.loads(render_json(page(), NOW))
    assert body["generated_at"] == "2026-12-02T16:00:00Z"
    assert body["status"] == "degraded"
    assert {c["name"] for c in body["components"]} == set(COMPONENTS)
    assert body["incidents"][0]["title"] == HOSTILE

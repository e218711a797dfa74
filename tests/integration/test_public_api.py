"""GET /v1/health, /status and /.well-known/security.txt through the real handler under moto."""

import json
from datetime import timedelta
from typing import Any

from functions.public_api import handler
from switchboard import clock
from switchboard.logic import status
from switchboard.models.status import IncidentIn
from tests.integration.conftest import Context, rest_event


def call(path: str, context: Context) -> tuple[int, dict[str, str], Any]:
    result = handler.lambda_handler(rest_event("GET", path), context)
    headers = {k: v[0] for k, v in result["multiValueHeaders"].items()}
    body = result["body"]
    return result["statusCode"], headers, json.loads(body) if "json" in headers["Content-Type"] else body


def test_health_answers_ok(aws: dict[str, str], context: Context) -> None:
    code, headers, body = call("/v1/health", context)
    assert (code, body) == (200, {"status": "ok"})
    assert headers["X-Request-Id"] == "it-request"


def test_status_is_operational_with_every_component_when_nothing_happened(
    aws: dict[str, str], context: Context
) -> None:
    code, _, body = call("/status", context)
    assert code == 200
    assert body["status"] == "operational"
    assert {c["name"] for c in body["components"]} == {"api", "sms", "whatsapp", "voice", "webhooks"}
    assert body["incidents"] == []


def test_status_shows_an_open_incident_and_degrades_its_components(aws: dict[str, str], context: Context) -> None:
    opened = status.open_incident(
        IncidentIn(title="SMS delays in the US", impact="major", components=["sms"], body="Investigating.")
    )
    _, _, body = call("/status", context)
    assert body["status"] == "degraded"
    by_name = {c["name"]: c["status"] for c in body["components"]}
    assert by_name["sms"] == "degraded"
    assert by_name["whatsapp"] == "operational"
    [incident] = body["incidents"]
    assert incident["id"] == opened.id
    assert incident["id"].startswith("inc_")
    assert incident["resolved_at"] is None
    assert incident["updates"][0]["body"] == "Investigating."


def test_status_critical_incident_is_an_outage(aws: dict[str, str], context: Context) -> None:
    status.open_incident(IncidentIn(title="API down", impact="critical", components=["api"], body="Down."))
    _, _, body = call("/status", context)
    assert body["status"] == "outage"


def test_status_resolved_incident_stays_visible_for_14_days(aws: dict[str, str], context: Context) -> None:
    opened = status.open_incident(IncidentIn(title="Voice errors", impact="minor", components=["voice"], body="Hm."))
    clock.advance(600)
    status.update_incident(opened.id, status="resolved", body="Fixed.")
    _, _, body = call("/status", context)
    assert body["status"] == "operational"
    [incident] = body["incidents"]
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] is not None
    assert [u["status"] for u in incident["updates"]] == ["resolved", "investigating"]
    clock.advance(timedelta(days=15).total_seconds())
    _, _, later = call("/status", context)
    assert later["incidents"] == []


def test_security_txt_is_plain_text(aws: dict[str, str], context: Context) -> None:
    code, headers, body = call("/.well-known/security.txt", context)
    assert code == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.count("Expires: ") == 1
    assert "Contact: " in body

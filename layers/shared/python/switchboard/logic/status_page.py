"""The static status page (index.html, incidents.atom, status.json) that stays up when the API is down."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from xml.etree import ElementTree as ET  # builds our own feed; never parses untrusted XML

from switchboard import clock, settings
from switchboard.dal import platform, status_page
from switchboard.logic import health, status
from switchboard.models.status import ComponentStatus, IncidentOut, StatusOut, StatusPageConfig

ATOM = "http://www.w3.org/2005/Atom"
MAX_AGE_S = 60  # Cloudflare and browsers may keep a copy this long: the job rewrites the page every minute
# ... and Cloudflare keeps serving the last copy this long when S3 itself cannot answer (R69: the page outlives
# an outage of our account's services).
STALE_IF_ERROR_S = 86400
# The page is plain HTML: no script runs, and the policy forbids any (a title carrying markup stays text).
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_LABEL: dict[str, str] = {"operational": "Operational", "degraded": "Degraded performance", "outage": "Outage"}
_COLOUR: dict[str, str] = {"operational": "#1a7f37", "degraded": "#9a6700", "outage": "#cf222e"}


class NotConfigured(RuntimeError):
    """The job's environment lacks its configuration (catalog.STATUS_PAGE_CONFIG_ENV)."""


def config() -> StatusPageConfig:
    """The job's configuration, as the stacks set it."""
    raw = settings.get().status_page_config
    if not raw:
        raise NotConfigured("STATUS_PAGE_CONFIG is not set for this function (infra/constructs/status_page.py)")
    return StatusPageConfig.model_validate_json(raw)


def _when(value: str | None) -> str:
    return escape(value or "")


def _incident_html(incident: IncidentOut) -> str:
    updates = "".join(
        f'<li><span class="st">{escape(u.status)}</span> <time datetime="{_when(u.at)}">{_when(u.at)}</time>'
        f"<p>{escape(u.body)}</p></li>"
        for u in incident.updates
    )
    components = ", ".join(escape(c) for c in incident.components)
    resolved = f", resolved {_when(incident.resolved_at)}" if incident.resolved_at else ""
    return (
        f'<article id="{escape(incident.id)}"><h3>{escape(incident.title)}</h3>'
        f"<p>{escape(incident.status)} · {escape(incident.impact)} impact · {components} · "
        f"started {_when(incident.started_at)}{resolved}</p><ul>{updates}</ul></article>"
    )


def render_html(page: StatusOut, generated_at: datetime) -> str:
    """The HTML page: every value escaped, no script."""
    rows = "".join(
        f'<tr><td>{escape(c.name)}</td><td style="color:{_COLOUR[c.status]}">{escape(_LABEL[c.status])}</td></tr>'
        for c in page.components
    )
    incidents = "".join(_incident_html(i) for i in page.incidents) or "<p>No incidents in the last 14 days.</p>"
    overall: ComponentStatus = page.status
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta http-equiv="refresh" content="{MAX_AGE_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Switchboard status</title>"
        '<link rel="alternate" type="application/atom+xml" title="Incidents" href="incidents.atom">'
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "td{padding:.3rem 1rem .3rem 0}.st{font-weight:600}</style></head><body>"
        f'<h1>Switchboard status</h1><p style="color:{_COLOUR[overall]}"><strong>{escape(_LABEL[overall])}'
        "</strong></p>"
        f"<table><tbody>{rows}</tbody></table><h2>Incidents</h2>{incidents}"
        f'<p><small>Updated <time datetime="{clock.rfc3339(generated_at)}">{clock.rfc3339(generated_at)}</time>'
        ' · <a href="incidents.atom">Atom feed</a> · <a href="status.json">JSON</a></small></p>'
        "</body></html>\n"
    )


def _updated(incident: IncidentOut) -> str:
    return max([u.at for u in incident.updates] + [incident.resolved_at or "", incident.started_at])


def render_atom(page: StatusOut, *, page_url: str, generated_at: datetime) -> bytes:
    """An Atom 1.0 feed (RFC 4287) with one entry per incident on the page."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{page_url}incidents.atom")
    sub(feed, "title", "Switchboard incidents")
    updated = max([_updated(i) for i in page.incidents], default=clock.rfc3339(generated_at))
    sub(feed, "updated", updated)
    sub(sub(feed, "author"), "name", "Switchboard")
    sub(feed, "link", rel="self", href=f"{page_url}incidents.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    for incident in page.incidents:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{page_url}#{incident.id}")
        sub(entry, "title", incident.title)
        sub(entry, "updated", _updated(incident))
        sub(entry, "published", incident.started_at)
        sub(entry, "link", rel="alternate", href=f"{page_url}#{incident.id}", type="text/html")
        for component in incident.components:
            sub(entry, "category", term=component)
        lines = [f"Status: {incident.status}. Impact: {incident.impact}. Components: {', '.join(incident.components)}."]
        lines += [f"{u.at} {u.status}: {u.body}" for u in incident.updates]
        sub(entry, "content", "\n".join(lines), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render_json(page: StatusOut, generated_at: datetime) -> bytes:
    """GET /status's answer and when it was taken."""
    return json.dumps({"generated_at": clock.rfc3339(generated_at), **page.model_dump(mode="json")}).encode()


@dataclass(frozen=True)
class Published:
    """What one run found and wrote."""

    status: ComponentStatus
    health: dict[str, ComponentStatus]
    reasons: dict[str, list[str]]
    incidents: int

    def as_dict(self) -> dict[str, object]:
        """The job's answer (its logs)."""
        return {"status": self.status, "health": self.health, "reasons": self.reasons, "incidents": self.incidents}


def refresh() -> Published:
    """Read the live signals, store each component's health, and publish the page from the same reading."""
    settings_ = config()
    readings = health.check(settings_)
    now = clock.now()
    for name, reading in readings.items():
        platform.put_health(name, status=reading.status, reasons=reading.reasons, at=now)
    live: dict[str, ComponentStatus] = {name: reading.status for name, reading in readings.items()}
    page = status.current(health=live)
    objects = (
        ("index.html", render_html(page, now).encode(), "text/html; charset=utf-8"),
        ("incidents.atom", render_atom(page, page_url=settings_.page_url, generated_at=now), "application/atom+xml"),
        ("status.json", render_json(page, now), "application/json"),
    )
    for key, body, content_type in objects:
        status_page.publish(
            settings_.bucket, key, body, content_type=content_type, max_age_s=MAX_AGE_S, stale_s=STALE_IF_ERROR_S
        )
    return Published(
        status=page.status,
        health=live,
        reasons={name: r.reasons for name, r in readings.items() if r.reasons},
        incidents=len(page.incidents),
    )

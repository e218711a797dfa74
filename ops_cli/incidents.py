"""`switchboard-ops incidents …`: open, update, resolve and list the incidents of the public status page."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from ops_cli import output
from ops_cli.client import Client

COMPONENTS = ("api", "sms", "whatsapp", "voice", "webhooks")  # switchboard.models.status.COMPONENTS (a test ties them)
INCIDENT = (
    ("id", "incident"),
    ("title", "title"),
    ("status", "status"),
    ("impact", "impact"),
    ("components", "components"),
    ("started_at", "started"),
    ("resolved_at", "resolved"),
)
LIST = (
    ("id", "incident"),
    ("status", "status"),
    ("impact", "impact"),
    ("components", "components"),
    ("started_at", "started"),
    ("resolved_at", "resolved"),
    ("title", "title"),
)


def incident_path(incident_id: str, action: str) -> str:
    """`/ops/v1/incidents/<id>/<action>`, the id quoted (a path segment, whatever was typed)."""
    return f"/ops/v1/incidents/{quote(incident_id, safe='')}/{action}"


def _show(incident: dict[str, Any]) -> str:
    updates = incident.get("updates") or []
    lines = [
        output.fields(incident, INCIDENT),
        "",
        output.table(updates, (("at", "at"), ("status", "status"), ("body", "update"))),
    ]
    return "\n".join(lines)


def open_(args: argparse.Namespace, client: Client) -> int:
    """Open an incident on one or more components; it shows on GET /status at once."""
    body = {"title": args.title, "components": args.component, "impact": args.impact, "body": args.body}
    answer: dict[str, Any] = client.request("POST", "/ops/v1/incidents", body)
    output.emit(answer, as_json=args.json, human=_show)
    return 0


def update(args: argparse.Namespace, client: Client) -> int:
    """Post an update (investigating, identified, monitoring) on an open incident."""
    answer: dict[str, Any] = client.request(
        "POST", incident_path(args.incident_id, "updates"), {"status": args.status, "body": args.body}
    )
    output.emit(answer, as_json=args.json, human=_show)
    return 0


def resolve(args: argparse.Namespace, client: Client) -> int:
    """Resolve an incident with its closing note."""
    answer: dict[str, Any] = client.request("POST", incident_path(args.incident_id, "resolve"), {"body": args.body})
    output.emit(answer, as_json=args.json, human=_show)
    return 0


def list_(args: argparse.Namespace, client: Client) -> int:
    """Every incident, newest first."""
    answer: dict[str, Any] = client.request("GET", "/ops/v1/incidents")
    output.emit(answer, as_json=args.json, human=lambda data: output.table(data["data"], LIST))
    return 0


def register(subparsers: Any) -> None:
    """Add the `incidents` command group."""
    incidents = subparsers.add_parser("incidents", help="incidents on the public status page (audited)")
    actions = incidents.add_subparsers(dest="action", required=True, metavar="ACTION")
    opened = actions.add_parser("open", help="open an incident")
    opened.add_argument("--title", required=True, help="what customers see (3-200 characters, no customer data)")
    opened.add_argument(
        "--component", required=True, action="append", choices=COMPONENTS, help="an affected component (repeatable)"
    )
    opened.add_argument("--impact", required=True, choices=("minor", "major", "critical"))
    opened.add_argument("--body", default="We are investigating.", help="the first update (default: %(default)s)")
    opened.set_defaults(run=open_)
    updated = actions.add_parser("update", help="post an update on an open incident")
    updated.add_argument("incident_id", metavar="INCIDENT_ID")
    updated.add_argument("--status", required=True, choices=("investigating", "identified", "monitoring"))
    updated.add_argument("--body", required=True)
    updated.set_defaults(run=update)
    resolved = actions.add_parser("resolve", help="resolve an incident")
    resolved.add_argument("incident_id", metavar="INCIDENT_ID")
    resolved.add_argument("--body", required=True, help="the closing note")
    resolved.set_defaults(run=resolve)
    listed = actions.add_parser("list", help="every incident, newest first")
    listed.set_defaults(run=list_)

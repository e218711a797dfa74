"""The public status page: component health derived from stored overrides and open incidents."""

from __future__ import annotations

from datetime import timedelta

from switchboard import clock, ids
from switchboard.dal import platform
from switchboard.models.errors import NotFound
from switchboard.models.status import (
    COMPONENTS,
    Component,
    ComponentStatus,
    IncidentIn,
    IncidentOut,
    IncidentStatus,
    IncidentUpdateOut,
    StatusOut,
)

RECENT = timedelta(days=14)
_SEVERITY: dict[str, int] = {"operational": 0, "degraded": 1, "outage": 2}
_IMPACT_TO_STATUS: dict[str, ComponentStatus] = {"minor": "degraded", "major": "degraded", "critical": "outage"}


def _worst(statuses: list[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda s: _SEVERITY[s], default="operational")


def _incident_out(item: platform.PlatformItem) -> IncidentOut:
    return IncidentOut(
        id=item.incident_id,
        title=item.title or "",
        status=item.status,
        impact=item.impact or "minor",
        components=list(item.components or []),
        started_at=clock.rfc3339(item.started_at) if item.started_at else "",
        resolved_at=clock.rfc3339(item.resolved_at) if item.resolved_at else None,
        updates=[
            IncidentUpdateOut(status=u.status, body=u.body, at=clock.rfc3339(u.at))
            for u in reversed(item.updates or [])
        ],
    )


def current() -> StatusOut:
    """Components, overall status, and incidents that are open or resolved in the last 14 days, newest first."""
    now = clock.now()
    stored = platform.incidents()
    open_incidents = [i for i in stored if i.status != "resolved"]
    shown = [i for i in stored if i.status != "resolved" or (i.resolved_at and now - i.resolved_at <= RECENT)]
    overrides = platform.component_overrides()
    components = []
    for name in COMPONENTS:
        statuses: list[ComponentStatus] = [overrides.get(name, "operational")]  # type: ignore[list-item]
        statuses += [_IMPACT_TO_STATUS[i.impact or "minor"] for i in open_incidents if name in (i.components or [])]
        components.append(Component(name=name, status=_worst(statuses)))
    shown.sort(key=lambda i: i.started_at or now, reverse=True)
    return StatusOut(
        status=_worst([c.status for c in components]),
        components=components,
        incidents=[_incident_out(i) for i in shown],
    )


def open_incident(request: IncidentIn) -> IncidentOut:
    """Open an incident; it shows on the status page at once."""
    item = platform.put_incident(
        ids.new_id("inc"),
        title=request.title,
        impact=request.impact,
        components=list(request.components),
        status=request.status,
        body=request.body,
        at=clock.now(),
    )
    return _incident_out(item)


def update_incident(incident_id: str, *, status: IncidentStatus, body: str) -> IncidentOut:
    """Post an update (resolving it when `status` is resolved)."""
    item = platform.get_incident(incident_id)
    if item is None:
        raise NotFound(f"No incident {incident_id}.")
    return _incident_out(platform.add_incident_update(item, status=status, body=body, at=clock.now()))

"""The public status page: component health from live signals, stored overrides and incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard import clock, ids
from switchboard.dal import platform
from switchboard.models.errors import Conflict, NotFound, ValidationFailed
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
# A health reading older than this is ignored: a stopped status_page_job must not pin a component degraded (nor
# hide anything: incidents and overrides still apply, and the job's own alarms say it stopped).
HEALTH_MAX_AGE = timedelta(minutes=5)
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


def live_health(now: datetime) -> dict[str, ComponentStatus]:
    """Each component's latest health reading from live signals, unless it is stale (HEALTH_MAX_AGE)."""
    return {
        str(item.sk): item.status  # type: ignore[misc]
        for item in platform.health()
        if item.checked_at is not None and now - item.checked_at <= HEALTH_MAX_AGE
    }


def current(health: dict[str, ComponentStatus] | None = None) -> StatusOut:
    """Components, overall status, and incidents that are open or resolved in the last 14 days, newest first.

    A component is the worst of its live health (`health`, else the stored readings), an operator's override and
    the impact of its open incidents. GET /status reads only the Platform table: the live signals were read once
    a minute by status_page_job, so no number of requests here reaches SQS or CloudWatch.
    """
    now = clock.now()
    stored = platform.incidents()
    open_incidents = [i for i in stored if i.status != "resolved"]
    shown = [i for i in stored if i.status != "resolved" or (i.resolved_at and now - i.resolved_at <= RECENT)]
    overrides = platform.component_overrides()
    live = live_health(now) if health is None else health
    components = []
    for name in COMPONENTS:
        statuses: list[ComponentStatus] = [overrides.get(name, "operational")]  # type: ignore[list-item]
        statuses.append(live.get(name, "operational"))
        statuses += [_IMPACT_TO_STATUS[i.impact or "minor"] for i in open_incidents if name in (i.components or [])]
        components.append(Component(name=name, status=_worst(statuses)))
    shown.sort(key=lambda i: i.started_at or now, reverse=True)
    return StatusOut(
        status=_worst([c.status for c in components]),
        components=components,
        incidents=[_incident_out(i) for i in shown],
    )


def open_incident(request: IncidentIn) -> IncidentOut:
    """Open an incident; it shows on the status page at once (an incident opens unresolved: 422 otherwise)."""
    if request.status == "resolved":
        raise ValidationFailed.at("/status", "An incident opens unresolved: open it, then resolve it.")
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
    """Post an update (resolving it when `status` is resolved); 404 for an unknown incident, 409 once resolved."""
    item = platform.get_incident(incident_id)
    if item is None:
        raise NotFound(f"No incident {incident_id}.")
    resolved = Conflict(f"Incident {incident_id} is resolved: it takes no more updates.", code="incident_resolved")
    if item.status == "resolved":
        raise resolved
    try:
        updated = platform.add_incident_update(item, status=status, body=body, at=clock.now())
    except platform.AlreadyResolved:
        raise resolved from None
    return _incident_out(updated)


def list_incidents() -> list[IncidentOut]:
    """Every stored incident, newest first (the operators' list, not limited to the last 14 days)."""
    stored = platform.incidents()
    stored.sort(key=lambda i: i.started_at or clock.now(), reverse=True)
    return [_incident_out(i) for i in stored]

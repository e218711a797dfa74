"""Operators open, update, resolve and list incidents; each action is an audit event in the platform trail."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from switchboard.logic import audit
from switchboard.logic import status as status_logic
from switchboard.models.errors import NotFound
from switchboard.models.status import IncidentIn, IncidentOut, IncidentStatus

if TYPE_CHECKING:
    from switchboard.models.request import RequestMeta
    from switchboard.operators import Operator

# Incidents belong to no account, so their audit events go into a trail of their own: hash-chained, MAC'd and
# anchored by the audit anchor job like every account's (docs/audit.md), and no customer's trail lists it.
PLATFORM_TRAIL = "platform"
_INCIDENT_ID = re.compile(r"inc_[0-9a-z]{26}")


def _audit(operator: Operator, type_: str, incident: IncidentOut, meta: RequestMeta | None) -> None:
    audit.record(
        account_id=PLATFORM_TRAIL,
        type=type_,
        outcome="success",
        actor=operator.actor,
        meta=meta,
        target={"incident_id": incident.id},
        data={"status": incident.status, "impact": incident.impact, "components": ",".join(incident.components)},
    )


def _known(incident_id: str) -> str:
    # Anything that is not an incident id cannot name one (and never reaches DynamoDB as a key).
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise NotFound(f"No incident {incident_id[:64]!r}.")
    return incident_id


def open_incident(operator: Operator, request: IncidentIn, meta: RequestMeta | None) -> IncidentOut:
    """Open an incident (it shows on GET /status at once, on the static page within a minute)."""
    unique = list(dict.fromkeys(request.components))
    opened = status_logic.open_incident(request.model_copy(update={"components": unique}))
    _audit(operator, "incident.opened", opened, meta)
    return opened


def change(
    operator: Operator, incident_id: str, status: IncidentStatus, body: str, meta: RequestMeta | None
) -> IncidentOut:
    """Post an update, or resolve with `status` resolved: 404 for an unknown incident, 409 once it is resolved."""
    changed = status_logic.update_incident(_known(incident_id), status=status, body=body)
    _audit(operator, "incident.resolved" if status == "resolved" else "incident.updated", changed, meta)
    return changed


def list_incidents() -> list[IncidentOut]:
    """Every incident, newest first."""
    return status_logic.list_incidents()

"""Status components, their live health and incidents in the Platform table (global items: `STATUS#...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.base import BaseItem

COMPONENT_PK = "STATUS#COMPONENT"
INCIDENT_PK = "STATUS#INCIDENT"
HEALTH_PK = "STATUS#HEALTH"  # what status_page_job last derived from live signals, per component (sk = name)


class AlreadyResolved(Exception):
    """The incident was resolved (perhaps by a concurrent request) before this update."""


class IncidentUpdate(MapAttribute[str, Any]):
    """One public update on an incident."""

    status = UnicodeAttribute()
    body = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class PlatformItem(BaseItem):
    """A status component (sk = name) or an incident (sk = id)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Platform").env

    class Meta:
        table_name = ""

    status = UnicodeAttribute()
    title = UnicodeAttribute(null=True)
    impact = UnicodeAttribute(null=True)
    components = ListAttribute[str](null=True)  # a list of strings: PynamoDB infers the element type
    started_at = UTCDateTimeAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    updates = ListAttribute[IncidentUpdate](of=IncidentUpdate, null=True)
    reasons = ListAttribute[str](null=True)  # a health reading's signals that crossed a threshold
    checked_at = UTCDateTimeAttribute(null=True)  # when a health reading was taken

    @property
    def incident_id(self) -> str:
        """An incident's id (its sort key)."""
        return str(self.sk)


def component_overrides() -> dict[str, str]:
    """Components whose status an operator or a health check has set, by name."""
    return {item.sk: item.status for item in PlatformItem.query(COMPONENT_PK)}


def health() -> list[PlatformItem]:
    """The latest health reading of each component (status_page_job writes them)."""
    return list(PlatformItem.query(HEALTH_PK))


def put_health(name: str, *, status: str, reasons: list[str], at: datetime) -> None:
    """Record a component's health reading (replacing the previous one)."""
    PlatformItem(HEALTH_PK, name, status=status, reasons=reasons or None, checked_at=at).save()


def incidents() -> list[PlatformItem]:
    """Every stored incident (the status page shows open ones and those resolved recently)."""
    return list(PlatformItem.query(INCIDENT_PK))


def get_incident(incident_id: str) -> PlatformItem | None:
    """One incident, or None."""
    try:
        return PlatformItem.get(INCIDENT_PK, incident_id)
    except DoesNotExist:
        return None


def put_incident(
    incident_id: str, *, title: str, impact: str, components: list[str], status: str, body: str, at: datetime
) -> PlatformItem:
    """Open an incident with its first update."""
    item = PlatformItem(
        INCIDENT_PK,
        incident_id,
        status=status,
        title=title,
        impact=impact,
        components=components,
        started_at=at,
        updates=[IncidentUpdate(status=status, body=body, at=at)],  # type: ignore[no-untyped-call]
    )
    item.save(condition=PlatformItem.sk.does_not_exist())
    return item


def add_incident_update(item: PlatformItem, *, status: str, body: str, at: datetime) -> PlatformItem:
    """Append an update; resolving stamps `resolved_at` once. AlreadyResolved when it was resolved meanwhile: a
    resolved incident takes no more updates (the condition makes two concurrent resolves one success)."""
    update = IncidentUpdate(status=status, body=body, at=at)  # type: ignore[no-untyped-call]
    actions: list[Action] = [
        PlatformItem.status.set(status),
        PlatformItem.updates.set(PlatformItem.updates.append([update])),
    ]
    if status == "resolved" and item.resolved_at is None:
        actions.append(PlatformItem.resolved_at.set(at))
    try:
        item.update(actions=actions, condition=PlatformItem.status != "resolved")
    except UpdateError as error:
        if clients.conditional_failed(error):
            raise AlreadyResolved(item.incident_id) from None
        raise
    return item

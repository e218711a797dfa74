"""Public status page contracts (GET /status)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

ComponentStatus = Literal["operational", "degraded", "outage"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
Impact = Literal["minor", "major", "critical"]

# The status page's components: the API, each channel (switchboard.catalog.CHANNELS; a unit test ties them) and
# webhooks, declared once.
ComponentName = Literal["api", "sms", "whatsapp", "voice", "webhooks"]
COMPONENTS: tuple[ComponentName, ...] = get_args(ComponentName)


class Health(BaseModel):
    """GET /v1/health."""

    status: Literal["ok"]


class Component(BaseModel):
    """One part of the platform and how it is doing."""

    name: str
    status: ComponentStatus


class IncidentUpdateOut(BaseModel):
    """A public update on an incident."""

    status: IncidentStatus
    body: str
    at: str


class IncidentOut(BaseModel):
    """An incident as the status page shows it."""

    id: str
    title: str
    status: IncidentStatus
    impact: Impact
    components: list[str]
    started_at: str
    resolved_at: str | None
    updates: list[IncidentUpdateOut]


class StatusOut(BaseModel):
    """The whole status page."""

    status: ComponentStatus
    components: list[Component]
    incidents: list[IncidentOut]


class IncidentIn(BaseModel):
    """An operator opens an incident."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=200)
    impact: Impact
    components: list[ComponentName] = Field(min_length=1)
    body: str = Field(min_length=1, max_length=5000)
    status: IncidentStatus = "investigating"

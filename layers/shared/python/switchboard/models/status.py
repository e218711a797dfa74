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


class IncidentUpdateIn(BaseModel):
    """An operator posts an update on an open incident (resolving goes through its own route)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating", "identified", "monitoring"]
    body: str = Field(min_length=1, max_length=5000)


class IncidentResolveIn(BaseModel):
    """An operator resolves an incident with a closing note."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)


class IncidentList(BaseModel):
    """Every stored incident, newest first (operators)."""

    data: list[IncidentOut]


class QueueSignals(BaseModel):
    """Where status_page_job reads one catalog queue's signals: its CloudWatch QueueName and its DLQ's URL."""

    name: str
    dlq_url: str


class StatusPageConfig(BaseModel):
    """status_page_job's configuration (catalog.STATUS_PAGE_CONFIG_ENV, JSON): set by the stacks."""

    model_config = ConfigDict(extra="forbid")

    bucket: str  # the static status page's bucket
    page_url: str  # where the page is published (links and ids in the Atom feed)
    api_name: str  # the REST API's name and stage: AWS/ApiGateway dimensions of its 5xx ratio
    api_stage: str
    queues: dict[str, QueueSignals]  # catalog queue id -> its signals

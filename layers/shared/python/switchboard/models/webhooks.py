"""Contracts of customer webhooks: endpoint routes, the delivery log, and the Callbacks queue's job."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Json, StringConstraints, model_validator

from switchboard.models.one_time import ONE_TIME_SECRET
from switchboard.models.queues import QueueRecord


class EventType(StrEnum):
    """What an endpoint can subscribe to (API.md webhook endpoints)."""

    MESSAGE_STATUS = "message.status"
    MESSAGE_INBOUND = "message.inbound"
    RECIPIENT_OPTED_OUT = "recipient.opted_out"


MAX_URL_LENGTH = 2048

# The Callbacks queue's max_receive_count (`switchboard/catalog.py`; a unit test keeps the two equal): the last attempt.
MAX_ATTEMPTS = 36


# The API's models build on first use (defer_build); the workers' DeliveryJob and CallbackQueueRecord build at
# import, since every batch parses them.
class EndpointIn(BaseModel):
    """POST /v1/webhook-endpoints."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


class EndpointCreated(BaseModel):
    """201: `secret` appears in this response only."""

    model_config = ConfigDict(defer_build=True)

    id: str
    url: str
    events: list[str]
    secret: Annotated[str, ONE_TIME_SECRET]
    created_at: str
    secret_version: int = 1  # as listed (GET): a new endpoint's first secret, nothing replaced yet
    previous_secrets_expire_at: str | None = None


class EndpointOut(BaseModel):
    """An endpoint as listed: never its secret."""

    model_config = ConfigDict(defer_build=True)

    id: str
    url: str
    events: list[str]
    created_at: str
    secret_version: int = 1
    # While a rotation's overlap lasts: when the last replaced secret stops signing deliveries.
    previous_secrets_expire_at: str | None = None


# R42: a replaced secret keeps signing for at most 24 h beside the new one.
MAX_ROTATION_GRACE_S = 86400


class RotateSecretIn(BaseModel):
    """POST /v1/webhook-endpoints/{id}/rotate-secret (the body is optional)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    # How long the replaced secret keeps signing beside the new one; 0 ends it now (a leaked secret).
    grace_s: int = Field(default=MAX_ROTATION_GRACE_S, ge=0, le=MAX_ROTATION_GRACE_S)


class PreviousSecretOut(BaseModel):
    """A replaced secret that still signs deliveries (never its value)."""

    model_config = ConfigDict(defer_build=True)

    secret_version: int
    expires_at: str


class SecretRotated(BaseModel):
    """200: the new signing secret appears in this answer only."""

    model_config = ConfigDict(defer_build=True)

    id: str
    secret: Annotated[str, ONE_TIME_SECRET]
    secret_version: int
    # Each replaced secret that still signs (newest first) and when it stops: deliveries carry one signature each.
    previous_secrets: list[PreviousSecretOut]


class EndpointList(BaseModel):
    """GET /v1/webhook-endpoints."""

    model_config = ConfigDict(defer_build=True)

    data: list[EndpointOut]
    next_cursor: str | None = None


class DeliveryOut(BaseModel):
    """One delivery attempt in an endpoint's log."""

    model_config = ConfigDict(defer_build=True)

    event_id: str
    type: str
    attempt: int
    status_code: int | None  # None when no HTTP answer came (refused target, timeout, connection error)
    outcome: str  # delivered | failed | refused | dropped
    error: str | None
    duration_ms: int
    at: str
    next_retry_at: str | None


class EventOut(BaseModel):
    """One event exactly as a webhook delivery's body carries it (GET /v1/events)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    type: str
    created_at: str
    data: dict[str, Any]


class EventList(BaseModel):
    """GET /v1/events: events after the cursor, oldest first; `next_cursor` is the `after` of the next call."""

    model_config = ConfigDict(defer_build=True)

    data: list[EventOut]
    next_cursor: str | None = None


class DeliveryList(BaseModel):
    """GET /v1/webhook-endpoints/{id}/deliveries, newest first."""

    model_config = ConfigDict(defer_build=True)

    data: list[DeliveryOut]
    next_cursor: str | None = None


class DeliveryJob(BaseModel):
    """One Callbacks queue message: ids and the event sealed with the account's key, never plaintext data.

    The target is one webhook endpoint (`endpoint_id`) or one message's own `callback_url` (`message_id`).
    """

    model_config = ConfigDict(extra="forbid")

    v: int = 1
    account_id: str
    endpoint_id: str | None = None
    message_id: str | None = None
    event_id: str
    event_type: str
    sealed_event: str

    @model_validator(mode="after")
    def _one_target(self) -> DeliveryJob:
        if (self.endpoint_id is None) == (self.message_id is None):
            raise ValueError("a delivery job names exactly one of endpoint_id or message_id")
        return self

    @property
    def target_id(self) -> str:
        """The endpoint or message whose delivery log records this job's attempts."""
        return self.endpoint_id or self.message_id or ""


class CallbackQueueRecord(QueueRecord):
    """One record of the Callbacks queue, as callback_worker receives it."""

    body: Json[DeliveryJob]

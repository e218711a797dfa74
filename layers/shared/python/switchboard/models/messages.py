"""Messages and broadcasts: request and response contracts (API.md "Messages")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Json, StringConstraints

from switchboard.catalog import Channel
from switchboard.models.one_time import ONE_TIME_SECRET
from switchboard.models.queues import QueueRecord
from switchboard.models.recipients import E164_PATTERN
from switchboard.models.templates import LANGUAGE_PATTERN, MAX_PARAMETER_CHARS, MAX_PARAMETERS, NAME_PATTERN
from switchboard.models.webhooks import DeliveryOut

MAX_BODY_CHARS = 1600
MAX_SEND_AHEAD_S = 30 * 86400
MIN_VALIDITY_S = 60
MAX_VALIDITY_S = 3 * 86400
Outcome = Literal["accepted", "failed", "timeout", "skipped"]


def given(name: str) -> dict[str, Any]:
    # Present and not null: `{"to": null}` means the same as leaving `to` out.
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


# The cross-field rules logic enforces (422 with a pointer), stated for the document and the gateway's model.
ONE_BODY: dict[str, Any] = {"oneOf": [given("body"), given("template")]}
# A send with media may leave the body out (it becomes the caption when given); never body and template together.
BODY_OR_MEDIA: dict[str, Any] = {
    "anyOf": [given("body"), given("template"), given("media")],
    "not": {"allOf": [given("body"), given("template")]},
}
TEMPLATE_ON_WHATSAPP: dict[str, Any] = {
    "anyOf": [{"not": given("template")}, {"properties": {"channel": {"enum": ["whatsapp"]}}}]
}


MAX_MEDIA = 10  # files on one message: MMS takes 10 (Twilio, Plivo), WhatsApp one (logic.media checks per channel)
FILE_ID_PATTERN = r"^fil_[0-9a-z]{26}$"
FileId = Annotated[str, StringConstraints(min_length=30, max_length=30, pattern=FILE_ID_PATTERN)]


# Meta refuses a parameter with a newline or tab, or more than four consecutive spaces (error 132018).
PARAMETER_PATTERN = r"^ {0,4}(?:[^\n\r\t ]+ {1,4})*[^\n\r\t ]*$"


# The API's models build their validators on first use (defer_build): send_worker imports this module for
# SendQueueRecord, which builds at import since every batch parses it, and never validates the others.
class Template(BaseModel):
    """A WhatsApp template send: an approved template of the account (logic.templates.check); parameters are
    substituted as plain text, never evaluated (R41)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    language: str = Field(pattern=LANGUAGE_PATTERN)
    parameters: list[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PARAMETER_CHARS, pattern=PARAMETER_PATTERN)]
    ] = Field(default_factory=list, max_length=MAX_PARAMETERS)


class MessageIn(BaseModel):
    """`POST /v1/messages`."""

    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        json_schema_extra={
            "allOf": [{"oneOf": [given("to"), given("recipient_id")]}, BODY_OR_MEDIA, TEMPLATE_ON_WHATSAPP]
        },
    )

    to: str | None = Field(default=None, max_length=32, json_schema_extra={"pattern": E164_PATTERN})
    recipient_id: str | None = Field(default=None, max_length=64)
    channel: Channel
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY_CHARS)
    template: Template | None = None
    callback_url: str | None = Field(default=None, max_length=2048)
    send_at: datetime | None = None
    validity_s: int | None = Field(default=None, ge=MIN_VALIDITY_S, le=MAX_VALIDITY_S)
    # Voice only: record the call (default: the account's `record_calls` setting); docs/recordings.md.
    record: bool | None = None
    # Files of the account (POST /v1/files), ready: WhatsApp one (the body is its caption), MMS (sms) up to 10.
    media: list[FileId] | None = Field(default=None, min_length=1, max_length=MAX_MEDIA)


class BroadcastIn(BaseModel):
    """`POST /v1/broadcasts`."""

    model_config = ConfigDict(
        defer_build=True, extra="forbid", json_schema_extra={"allOf": [ONE_BODY, TEMPLATE_ON_WHATSAPP]}
    )

    list_id: str = Field(max_length=64)
    channel: Channel
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY_CHARS)
    template: Template | None = None
    # Not carried by broadcasts yet: named so that a broadcast with media is a 422 that says so, not a schema 400.
    media: list[FileId] | None = Field(default=None, max_length=MAX_MEDIA)


class MediaRef(BaseModel):
    """A file sent with a message: its id, sniffed type and size (never a link: links are minted per carrier)."""

    model_config = ConfigDict(defer_build=True)

    file_id: str
    content_type: str
    size: int


class Attempt(BaseModel):
    """One carrier attempt."""

    model_config = ConfigDict(defer_build=True)

    carrier: str
    outcome: Outcome
    at: str


class Event(BaseModel):
    """One status transition."""

    model_config = ConfigDict(defer_build=True)

    status: str
    at: str


class ErrorInfo(BaseModel):
    """Why a message failed, expired or was not delivered."""

    model_config = ConfigDict(defer_build=True)

    code: str
    detail: str


def _seconds(value: Any) -> int | None:
    # Carriers report seconds as decimal strings; anything else is not a duration (and never an error).
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


class CallOut(BaseModel):
    """What the carrier reported of a voice call: seconds as numbers, the price as the carrier's decimal string."""

    model_config = ConfigDict(extra="ignore")

    duration_s: Annotated[int | None, BeforeValidator(_seconds)] = None
    billed_s: Annotated[int | None, BeforeValidator(_seconds)] = None
    answered_by: str | None = None
    price: str | None = None
    currency: str | None = None


class MessageOut(BaseModel):
    """A message's log (GET /v1/messages/{id}; 202 of POST /v1/messages)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    status: str
    channel: str
    from_: str = Field(serialization_alias="from")
    to: str | None
    recipient_id: str | None = None
    carrier: str | None = None
    body: str | None = None
    template: Template | None = None
    media: list[MediaRef] | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    error: ErrorInfo | None = None
    created_at: str
    send_at: str | None = None
    valid_until: str | None = None
    broadcast_id: str | None = None
    callback_url: str | None = None
    # Voice: whether the call is recorded, the recording once stored (GET /v1/recordings/{id}), and what the
    # carrier reported of the call (duration_s, answered_by, price, currency) when it did.
    record: bool | None = None
    recording_id: str | None = None
    call: CallOut | None = None
    # Attempts to POST this message's status events to its callback_url, newest first (read of one message only).
    callbacks: list[DeliveryOut] | None = None


class MessageCreated(MessageOut):
    """202 of POST /v1/messages: `callback_secret` (when a callback_url was given) appears in this answer only."""

    callback_secret: Annotated[str | None, ONE_TIME_SECRET] = None


class MessagePage(BaseModel):
    """A page of messages, newest first."""

    model_config = ConfigDict(defer_build=True)

    data: list[MessageOut]
    next_cursor: str | None = None


class Skipped(BaseModel):
    """Recipients of a broadcast that were not sent to, by reason."""

    model_config = ConfigDict(defer_build=True)

    no_consent: int
    # WhatsApp free-form bodies reach only recipients who wrote in the last 24 hours (R62).
    outside_window: int = 0


class BroadcastOut(BaseModel):
    """`POST /v1/broadcasts` → 202."""

    model_config = ConfigDict(defer_build=True)

    id: str
    list_id: str
    channel: str
    accepted: int
    skipped: Skipped


class SendRecord(BaseModel):
    """A send queue's record: ids only (no number, no body)."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    message_id: str


class SendQueueRecord(QueueRecord):
    """One record of a channel's send queue, as send_worker receives it."""

    body: Json[SendRecord]

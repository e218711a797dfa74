"""Conversations: request and response contracts (docs/conversations.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.catalog import Channel
from switchboard.models.messages import MAX_BODY_CHARS, MAX_MEDIA, FileId, given

Direction = Literal["inbound", "outbound"]


class ConversationOut(BaseModel):
    """A recipient with recent activity (GET /v1/conversations)."""

    model_config = ConfigDict(defer_build=True)

    recipient_id: str
    phone: str | None = Field(description="E.164; masked for roles that may not read message content")
    name: str | None = None
    last_message_at: str
    last_direction: Direction
    last_channel: Channel
    unread_count: int = Field(ge=0, description="Their messages since the conversation was last marked read")
    whatsapp_window_open_until: str | None = Field(
        description="Until when free-form WhatsApp text may be sent (24 h after their last WhatsApp message)"
    )


class ConversationPage(BaseModel):
    """A page of conversations, newest activity first."""

    model_config = ConfigDict(defer_build=True)

    data: list[ConversationOut]
    next_cursor: str | None = None


class MediaOut(BaseModel):
    """A file of a message: what it is, never the carrier's handle for it."""

    model_config = ConfigDict(defer_build=True)

    kind: Literal["image", "audio", "video", "document", "sticker"]
    content_type: str | None = None
    status: Literal["pending", "stored", "failed"] | None = Field(
        default=None, description="Inbound files: fetched from the carrier yet (`pending`), kept, or not (`reason`)"
    )
    reason: str | None = Field(
        default=None,
        description="Why a file is `failed`: too_large, unsupported_type, storage_full, not_found, not_allowed, "
        "unavailable, account_closed",
    )
    file_id: str | None = Field(default=None, description="A stored file: its bytes at GET /v1/files/{id}/content")
    size: int | None = None


class TimelineEntryOut(BaseModel):
    """One message of a recipient's timeline, in either direction."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(description="`msg_…` for ours, `inb_…` for theirs (the `id` of its `message.inbound` webhook)")
    direction: Direction
    channel: str
    kind: Literal["text", "template", "button", "media", "call", "preference", "other"]
    body: str | None = Field(description="null for roles that may not read message content, and for calls")
    media: list[MediaOut] = Field(default_factory=list)
    status: str | None = Field(description="Ours only: the message's status")
    at: str
    in_reply_to: str | None = Field(description="The id of our message this one answers, when the carrier said so")


class TimelinePage(BaseModel):
    """A page of a recipient's messages, both directions, newest first."""

    model_config = ConfigDict(defer_build=True)

    data: list[TimelineEntryOut]
    next_cursor: str | None = None


class ReplyIn(BaseModel):
    """`POST /v1/recipients/{recipient_id}/messages`: free-form text (and/or media) within the reply window."""

    model_config = ConfigDict(
        defer_build=True, extra="forbid", json_schema_extra={"anyOf": [given("body"), given("media")]}
    )

    channel: Channel
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY_CHARS)
    # Files of the account, as on POST /v1/messages (docs/messaging.md "Media").
    media: list[FileId] | None = Field(default=None, min_length=1, max_length=MAX_MEDIA)

"""What every carrier adapter implements: submit one outbound message, get the carrier's receipt or an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# A callback ref is `<account_id>.<message_id>.<hex mac>` (switchboard.logic.receipts): ids and hex only, so every
# URL spelling of it is the same.
_REF = re.compile(r"^[a-z]+_[0-9a-z]{1,40}\.[a-z]+_[0-9a-z]{1,40}\.[0-9a-f]{32}$")


def ref_of(value: str) -> str:
    """A well-formed callback ref, or "" (anything else a callback carries is ignored, never looked up)."""
    return value if _REF.fullmatch(value) else ""


@dataclass(frozen=True)
class OutboundMedia:
    """One file sent with a message: a single-purpose link for this carrier (GET /v1/media/{token}), and its type."""

    url: str
    content_type: str
    kind: str  # image | audio | video | document (switchboard.files.kind_of)
    filename: str  # `<file_id>.<ext>`: a WhatsApp document's name


@dataclass(frozen=True)
class Outbound:
    """One message to hand to a carrier (the body is already rendered; `template` for WhatsApp templates)."""

    message_id: str
    account_id: str
    channel: str  # sms | whatsapp | voice
    from_: str
    to: str
    body: str
    template: dict[str, Any] | None = None
    # Our reference for the carrier to echo in its status callbacks (a callback URL's query, WhatsApp's
    # biz_opaque_callback_data): `<account_id>.<message_id>.<mac>`, so a receipt that outruns our carrier-id mapping
    # still finds its message (switchboard.logic.receipts).
    callback_ref: str = ""
    # Voice: record the call (the script starts with a recording notice; docs/recordings.md).
    record: bool = False
    # Files, each a link minted for the carrier it is handed to (routing.failover builds them per carrier); the
    # body, if any, is the caption (WhatsApp) or the text beside them (MMS).
    media: tuple[OutboundMedia, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """The carrier accepted the message under its own id."""

    carrier: str
    carrier_message_id: str


class CarrierError(Exception):
    """A carrier could not take the message; routing may fail over to another carrier."""


class CarrierUnavailable(CarrierError):
    """The carrier refused or is down (answers at once)."""


class CarrierTimeout(CarrierError):
    """The carrier did not answer within the caller's timeout."""


class CarrierRejected(CarrierError):
    """The carrier refused this message itself (invalid number, body, template, opted-out recipient...).

    Routing must NOT fail over: every carrier would refuse the same message, and a second submission could be a
    duplicate. `code` is the carrier's own error code (e.g. Twilio 21211, Meta 131026), for the message's error.
    """

    def __init__(self, detail: str, *, code: str = "") -> None:
        super().__init__(detail)
        self.code = code


class Carrier(Protocol):
    """A carrier adapter's sending side."""

    name: str

    def submit(self, msg: Outbound) -> Receipt:
        """Hand one message to the carrier; raises a CarrierError when it cannot."""
        ...


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request a carrier sent to `/v1/carriers/{carrier}/events`, exactly as received (raw bytes)."""

    method: str
    url: str  # the public URL the carrier called (scheme, host, path and query): Twilio signs it
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    raw_body: bytes
    # Other spellings of `url`, equally likely: a REST API hands the query over decoded and unordered, so the exact
    # string the carrier called (and signed) is one of a few encodings and orders of it (support.public_urls).
    url_spellings: tuple[str, ...] = ()


# What an inbound message is (CarrierEvent.message_type): text, a reply button of a template or an interactive
# message, media (image, audio, video, document, sticker; the caption is the body), a phone call to one of our
# sender numbers, a preference change (WhatsApp's "stop promotions"), or something else a carrier sends (a location,
# a contact card, a reaction: kept, without content).
INBOUND_TYPES = frozenset({"text", "button", "media", "call", "preference", "other"})
MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


@dataclass(frozen=True)
class Media:
    """One file attached to an inbound message, as the carrier names it: its id (WhatsApp) or URL (Twilio, Plivo).

    `ref` is the carrier's handle for fetching the bytes: stored sealed, never shown to a customer.
    """

    kind: str  # one of MEDIA_KINDS
    ref: str
    content_type: str = ""
    filename: str = ""  # a document's name, as the sender gave it (personal data: sealed with `ref`)


@dataclass(frozen=True)
class CarrierEvent:
    """One normalised fact from a carrier: a status change of a message we sent, or an inbound message."""

    kind: Literal["status", "inbound", "recording"]
    carrier: str
    event_id: str  # the carrier's own id of this event: duplicates are dropped by it
    at: str  # RFC 3339 UTC
    carrier_message_id: str = ""  # status: the id the carrier returned in its Receipt
    status: str = ""  # status: one of switchboard.models.message_status.MessageStatus
    error_code: str = ""  # status: the carrier's error code, if any
    channel: str = ""  # inbound: sms | whatsapp | voice
    from_: str = ""  # inbound: the sender (E.164)
    to: str = ""  # inbound: our sender number that received it (finds the account)
    body: str = ""  # inbound: the text
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. WhatsApp's marketing opt-out preference
    ref: str = ""  # status: the Outbound.callback_ref the carrier echoed back, if any (verified before use)
    message_type: str = "text"  # inbound: one of INBOUND_TYPES
    media: tuple[Media, ...] = ()  # inbound: attached files (message_type "media")
    reply_to: str = ""  # inbound: the carrier's id of the message this one answers (ours, if it maps to one)
    # recording: the carrier's handle of a finished call recording (its id or URL; fetched, then deleted there)
    recording_ref: str = ""
    # status of a call: what the carrier reports of it (duration_s, billed_s, answered_by, price, currency)
    call: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CarrierStatus:
    """What a carrier's status API says of one of its messages, mapped onto our statuses."""

    status: str  # one of switchboard.models.message_status.MessageStatus
    error_code: str = ""


class StatusSource(Protocol):
    """A carrier with a status API (Twilio, Plivo, the sandbox): what became of a message it accepted."""

    name: str

    def status(self, carrier_message_id: str, channel: str) -> CarrierStatus | None:
        """Its current status; None when it has none for this message (unknown id, or no API for the channel).

        Raises a CarrierError when the API cannot answer now (the caller tries again later).
        """
        ...


class EventSource(Protocol):
    """A carrier adapter's receiving side: authenticate a webhook before parsing it, then normalise it."""

    name: str

    def verify(self, request: WebhookRequest) -> bool:
        """True only for a request carrying this carrier's valid signature (constant-time; replays refused)."""
        ...

    def parse(self, request: WebhookRequest) -> list[CarrierEvent]:
        """The events in a verified request (statuses mapped onto ours)."""
        ...

    def handshake(self, request: WebhookRequest) -> str | None:
        """The body to answer a subscription handshake (WhatsApp's GET hub.challenge), or None if not one."""
        ...


class RecordingSource(Protocol):
    """A carrier that records calls: fetch a finished recording's audio, then delete the carrier's copy."""

    name: str

    def fetch_recording(self, recording_ref: str, *, max_bytes: int) -> bytes:
        """The recording's audio (WAV); a CarrierError when it cannot be fetched now (the job is retried)."""
        ...

    def delete_recording(self, recording_ref: str) -> None:
        """Delete the carrier's copy (gone already is success); a CarrierError when it could not (retried)."""
        ...


class MediaSource(Protocol):
    """A carrier that keeps the files of inbound messages: fetch one by the handle its webhook gave (Media.ref)."""

    name: str

    def fetch_media(self, ref: str, *, max_bytes: int) -> bytes:
        """The file's bytes, from the carrier's own media host (a URL built from the handle's verified ids, never
        taken as given); media_fetch.MediaRefused when it can never be fetched (too large, gone, not the carrier's),
        a CarrierError when not now (the job is retried)."""
        ...

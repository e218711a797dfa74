"""Media on sends: files checked at accept time, single-purpose links minted per carrier, and served to carriers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from switchboard import catalog, clock, settings
from switchboard import files as rules
from switchboard.carriers.base import Outbound, OutboundMedia
from switchboard.crypto import envelope
from switchboard.crypto import media_links as tokens
from switchboard.dal import files as files_dal
from switchboard.dal import messages as messages_dal
from switchboard.dal.messages import Message
from switchboard.logic import files as files_logic
from switchboard.models.errors import NotFound, ProblemError, ValidationFailed
from switchboard.observability import logger

LINK_TTL_S = 3600  # carriers fetch within minutes, their retries included
SOURCE_UPLOAD = "upload"

MediaEntry = Mapping[str, Any]  # {file_id, content_type, size}, as a message item stores it


class MediaNotFound(ValidationFailed):
    """422: a file that is not a ready upload of this account (unknown, another account's, pending, deleted)."""

    code = "media_not_found"


class MediaNotAllowed(ValidationFailed):
    """422: the channel does not carry this file (type, size, count or total)."""

    code = "media_not_allowed"


def _at(cls: type[ValidationFailed], pointer: str, message: str) -> ValidationFailed:
    return cls(message, errors=[{"pointer": pointer, "message": message}])


def _refusal(problem: ProblemError | None, record: files_dal.FileRecord) -> str | None:
    if problem is not None:
        return problem.detail
    if record.size > rules.LINK_MAX_BYTES:
        return (
            f"A file sent with a message is at most {rules.LINK_MAX_BYTES} bytes (one answer of its link); this "
            f"one is {record.size}."
        )
    return None


def attach(
    account_id: str, channel: str, file_ids: Sequence[str], *, body: str | None, template: bool
) -> tuple[dict[str, Any], ...]:
    """The files of a send as its item stores them, or a 422 pointing at `/media/<i>` (nothing queued)."""
    if channel == "voice":
        raise _at(MediaNotAllowed, "/media", "Voice calls carry no media.")
    if template:
        raise _at(MediaNotAllowed, "/media", "A template send carries no media: send the file with a body instead.")
    most = rules.MEDIA_PER_MESSAGE[channel]
    if len(file_ids) > most:
        raise _at(MediaNotAllowed, "/media", f"A {channel} message carries at most {most} file(s).")
    entries: list[dict[str, Any]] = []
    for i, file_id in enumerate(file_ids):
        pointer = f"/media/{i}"
        if file_id in file_ids[:i]:
            raise _at(MediaNotAllowed, pointer, "This file is listed twice.")
        record = files_dal.get(account_id, file_id)
        if record is None or record.status != files_dal.READY or record.source != SOURCE_UPLOAD:
            # Unknown, another account's, not completed or deleted: one answer for all (no oracle).
            raise _at(MediaNotFound, pointer, "No ready file with this id: upload it (and complete it) first.")
        reason = _refusal(rules.allowed_for(channel, record.content_type, record.size), record)
        if reason is not None:
            raise _at(MediaNotAllowed, pointer, reason)
        if channel == "whatsapp" and body is not None and rules.kind_of(record.content_type) == "audio":
            raise _at(MediaNotAllowed, "/body", "WhatsApp audio carries no caption: send the text separately.")
        entries.append({"file_id": file_id, "content_type": record.content_type, "size": record.size})
    total, limit = sum(e["size"] for e in entries), rules.MESSAGE_MEDIA_MAX_BYTES.get(channel)
    if limit is not None and total > limit:
        raise _at(MediaNotAllowed, "/media", f"The files of one {channel} message total at most {limit} bytes.")
    return tuple(entries)


def available(message: Message) -> bool:
    """Whether every file of a queued message is still there (deleted meanwhile: the send fails, no broken link)."""
    for entry in message.media or ():
        record = files_dal.get(message.account_id, str(entry["file_id"]))
        if record is None or record.status != files_dal.READY:
            return False
    return True


def link(account_id: str, file_id: str, message_id: str, carrier: str, *, key: bytes | None = None) -> str:
    """A link only `carrier` may use, for LINK_TTL_S, to fetch this file of this message (`key`: the account's link
    key when the caller has it already)."""
    claims = tokens.LinkClaims(account_id, file_id, message_id, carrier, int(clock.timestamp()) + LINK_TTL_S)
    key = key or tokens.link_key(envelope.data_key(account_id))
    return settings.get().public_base_url.rstrip("/") + catalog.LINKS_PREFIX + tokens.mint(key, claims)


def for_carrier(message: Message) -> Callable[[Outbound, str], Outbound]:
    """routing.failover's `for_carrier`: the message with links minted for the carrier it is handed to."""
    entries = tuple(message.media or ())

    def build(msg: Outbound, carrier: str) -> Outbound:
        if not entries:
            return msg
        key = tokens.link_key(envelope.data_key(message.account_id))  # once per attempt, not per file
        media = tuple(
            OutboundMedia(
                url=link(message.account_id, str(e["file_id"]), message.message_id, carrier, key=key),
                content_type=str(e["content_type"]),
                kind=rules.kind_of(str(e["content_type"])),
                filename=filename(str(e["file_id"]), str(e["content_type"])),
            )
            for e in entries
        )
        return dataclasses.replace(msg, media=media)

    return build


def filename(file_id: str, content_type: str) -> str:
    """`<file_id>.<ext>`: a name that says what the file is and nothing of the person who uploaded it."""
    return f"{file_id}.{rules.EXTENSIONS.get(content_type, 'bin')}"


@dataclasses.dataclass(frozen=True)
class Served:
    """The bytes a link serves and the headers of the answer."""

    body: bytes
    content_type: str
    headers: dict[str, str]


def _nothing() -> NotFound:
    return NotFound("Not found.")


def _claims(token: str) -> tokens.LinkClaims:
    parsed = tokens.parse(token)
    if parsed is None or clock.timestamp() > parsed.claims.expires_at:
        raise _nothing()
    try:
        key = tokens.link_key(envelope.data_key(parsed.claims.account_id))
    except envelope.KeyShredded:  # no such account, or its key was destroyed: its links died with it
        raise _nothing() from None
    if not tokens.authentic(key, parsed):
        raise _nothing()
    return parsed.claims


def serve(token: str) -> Served:
    """GET /v1/media/{token}: the file, if the token is ours, unexpired, and its message still lists the file.

    Every refusal is the same 404 (no detail): a caller learns nothing of which check failed.
    """
    claims = _claims(token)
    message = messages_dal.get(claims.account_id, claims.message_id)
    listed = {str(e["file_id"]) for e in (message.media or ())} if message is not None else set()
    record = files_dal.get(claims.account_id, claims.file_id) if claims.file_id in listed else None
    if record is None or record.source != SOURCE_UPLOAD:
        raise _nothing()
    try:
        content = files_logic.serve(record, None)
    except ProblemError:  # not ready, gone (shredded), its object missing: the same answer
        raise _nothing() from None
    logger.info(
        "media fetched",
        extra={
            "account_id": claims.account_id,
            "message_id": claims.message_id,
            "file_id": claims.file_id,
            "carrier": claims.carrier,
            "bytes": len(content.body),
        },
    )
    headers = {
        "Content-Length": str(len(content.body)),
        "Cache-Control": "no-store, private",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{filename(record.file_id, record.content_type)}"',
    }
    return Served(body=content.body, content_type=record.content_type, headers=headers)

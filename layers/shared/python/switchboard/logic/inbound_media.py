"""Inbound media: media_worker fetches each file of an inbound message from its carrier, checks it, keeps it sealed
as a file (`source: inbound`), then sends the message's webhook with the file ids (docs/conversations.md)."""

from __future__ import annotations

import json
from typing import Any

from switchboard import files as rules
from switchboard.carriers.base import CarrierError, MediaSource
from switchboard.carriers.media_fetch import MediaRefused
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import files as files_store
from switchboard.dal import messages as messages_dal
from switchboard.dal.files import FileRecord
from switchboard.logic import files as files_logic
from switchboard.logic import inbound, webhook_events
from switchboard.models.errors import ProblemError
from switchboard.observability import logger, metrics

SOURCE = "inbound"
FINAL = frozenset({"stored", "failed"})


def max_bytes(channel: str) -> int:
    """The largest file a channel's carriers hand over, within the platform's file limit (never read past it)."""
    limits = rules.CHANNEL_MEDIA.get(channel) or {}
    return min(rules.MAX_FILE_BYTES, max(limits.values(), default=rules.MAX_FILE_BYTES))


def _stored(entry: dict[str, Any], record: FileRecord) -> None:
    entry.update(status="stored", file_id=record.file_id, size=record.size, content_type=record.content_type)
    if entry.get("kind") == "document" and record.content_type.split("/")[0] in ("image", "audio", "video"):
        entry["kind"] = record.content_type.split("/")[0]  # Plivo names no type: the bytes tell
    entry.pop("reason", None)


def _failed(entry: dict[str, Any], reason: str) -> None:
    entry.update(status="failed", reason=reason)
    metrics.add_metric(name="InboundMediaFailed", unit="Count", value=1)


def _reason(problem: ProblemError) -> str:
    if isinstance(problem, files_logic.StorageLimitExceeded):
        return "storage_full"
    if isinstance(problem, rules.FileTooLarge):
        return "too_large"
    if isinstance(problem, files_logic.FileGone):
        return "account_closed"
    return "unsupported_type"


def collect(job: dict[str, Any], *, source: MediaSource, final_attempt: bool = False) -> str:
    """The worker: settle every file of one inbound message, then send its `message.inbound` webhook once.

    Idempotent: a file's id is its message's and index (files_store.inbound_media_id), so a redelivered job finds
    what it stored. A transient failure (the carrier's 5xx, a timeout) raises, and the job comes back; on its last
    attempt (`final_attempt`) the file is marked failed `unavailable` instead, so the webhook is always sent.
    """
    account_id, inbound_id = str(job["account_id"]), str(job["message_id"])
    message = messages_dal.get_inbound(account_id, inbound_id)
    if message is None:
        return "message_gone"  # erased or past retention meanwhile: nothing to fetch, nobody to tell
    if message.media_done:
        return "duplicate"
    refs = json.loads(messages_dal.open_inbound(message, "media_refs_sealed") or "[]")
    account = accounts_dal.get_account(account_id)
    plan = account.plan if account is not None and account.status == "active" else None  # None: nothing is kept
    entries = [dict(m) for m in message.media]
    for index, (entry, ref) in enumerate(zip(entries, refs, strict=False)):
        if entry.get("status") in FINAL:
            continue
        file_id = files_store.inbound_media_id(inbound_id, index)
        existing = files_store.get(account_id, file_id)
        if existing is not None:
            _stored(entry, existing)
        elif plan is None:
            _failed(entry, "account_closed")
        else:
            try:
                _keep(entry, file_id, message, str(ref.get("ref") or ""), plan=plan, source=source)
            except CarrierError:
                if not final_attempt:
                    messages_dal.set_inbound_media(account_id, inbound_id, entries)  # what is settled stays
                    raise
                _failed(entry, "unavailable")
    if not messages_dal.set_inbound_media(account_id, inbound_id, entries):
        _discard(account_id, entries)
        return "message_gone"
    _publish(message, entries, keyword=job.get("keyword"))
    # Marked after the webhook: a job that stops between the two sends it again (at least once, same data).
    messages_dal.set_inbound_media(account_id, inbound_id, entries, done=True)
    stored = sum(1 for e in entries if e.get("status") == "stored")
    metrics.add_metric(name="InboundMediaStored", unit="Count", value=stored)
    return f"stored:{stored}/{len(entries)}"


def _keep(
    entry: dict[str, Any], file_id: str, message: messages_dal.Inbound, ref: str, *, plan: str, source: MediaSource
) -> None:
    try:
        data = source.fetch_media(ref, max_bytes=max_bytes(message.channel))
    except MediaRefused as refused:
        logger.warning("inbound media not fetched", extra={"reason": refused.reason})
        _failed(entry, refused.reason)
        return
    try:
        record = files_logic.store_bytes(
            message.account_id,
            file_id,
            data,
            source=SOURCE,
            plan=plan,
            message_id=message.inbound_id,
            recipient_id=message.recipient_id,
        )
    except ProblemError as problem:
        # Not a type we store, too large, or over the plan's storage: the bytes are dropped, never kept.
        logger.warning("inbound media not kept", extra={"code": problem.code})
        _failed(entry, _reason(problem))
        return
    record = record or files_store.get(message.account_id, file_id)  # a concurrent delivery stored it first
    if record is None:
        raise CarrierError("the stored file vanished")  # deleted meanwhile: the job comes back and decides again
    _stored(entry, record)


def _discard(account_id: str, entries: list[dict[str, Any]]) -> None:
    """The message went (erasure, retention) while its files were fetched: they go too."""
    for entry in entries:
        if entry.get("file_id"):
            files_logic.delete_file(account_id, str(entry["file_id"]))


def shown(entry: dict[str, Any]) -> dict[str, Any]:
    """A media entry as the webhook and the timeline show it (never the carrier's handle: it is not in the entry)."""
    keys = ("kind", "content_type", "status", "reason", "file_id", "size")
    return {key: entry[key] for key in keys if entry.get(key) is not None}


def _publish(message: messages_dal.Inbound, entries: list[dict[str, Any]], *, keyword: str | None) -> None:
    data = inbound.webhook_data(
        message.inbound_id,
        carrier=message.carrier,
        channel=message.channel,
        kind=message.kind,
        sender=messages_dal.open_inbound(message, "from_sealed") or "",
        to=message.to,
        body=messages_dal.open_inbound(message, "body_sealed") or "",
        media=[shown(e) for e in entries],
        payload=messages_dal.open_inbound(message, "payload_sealed") or None,
        in_reply_to=message.in_reply_to,
        recipient_id=message.recipient_id,
        keyword=keyword,
        received_at=message.received_at,
    )
    webhook_events.publish(message.account_id, "message.inbound", data, phone_index=message.phone_index)

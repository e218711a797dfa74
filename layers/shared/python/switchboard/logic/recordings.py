"""Call recordings: a verified callback queues a job; the worker fetches the audio from the carrier, keeps it sealed
like a file, then deletes the carrier's copy; owners and admins read it, every read audited (docs/recordings.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from switchboard import clock
from switchboard import files as rules
from switchboard.auth import Principal
from switchboard.carriers.base import CarrierEvent, RecordingSource
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import files as files_store
from switchboard.dal import messages as messages_store
from switchboard.dal import messaging_table as table
from switchboard.dal import queues
from switchboard.dal.cursors import InvalidCursor
from switchboard.dal.files import FileRecord
from switchboard.dal.keys import account_pk
from switchboard.logic import audit, receipts
from switchboard.logic import files as files_logic
from switchboard.models import paging
from switchboard.models.errors import NotFound, ProblemError
from switchboard.models.recordings import RecordingOut, RecordingPage
from switchboard.models.request import RequestMeta
from switchboard.observability import logger, metrics

SOURCE = "recording"
QUEUE = "CarrierMedia"
PREFIX = "rec"
MAX_BYTES = rules.MAX_FILE_BYTES  # a 16 MiB WAV is ~17 minutes of telephone audio; larger is refused unread


def _target(event: CarrierEvent) -> tuple[str, str] | None:
    """The (account, message) a carrier callback is about: by the carrier-id mapping, else by our verified ref."""
    mapped = messages_store.find_by_carrier_id(event.carrier, event.carrier_message_id)
    carried = receipts.carried_by(event.ref)
    if mapped is not None:
        return mapped if carried is None or carried == mapped else None
    return carried


def accept(event: CarrierEvent, *, send: Callable[[str], None] | None = None) -> str:
    """A verified recording callback: queue the fetch of a recording we asked for; what happened, for the log."""
    target = _target(event)
    if target is None:
        logger.warning("recording of no message of ours", extra={"carrier": event.carrier})
        return "unknown_recording"
    message = messages_store.get(*target)
    if message is None or message.channel != "voice" or not message.record:
        # Not a call we asked to record (or erased since): it is still deleted at the carrier, never kept.
        logger.warning("recording not asked for: deleted at the carrier", extra={"carrier": event.carrier})
    job = {
        "kind": "recording",
        "account_id": target[0],
        "message_id": target[1],
        "carrier": event.carrier,
        "recording_ref": event.recording_ref,
        "keep": bool(message is not None and message.channel == "voice" and message.record),
    }
    (send or _send)(json.dumps(job))
    return "recording_queued"


def _send(body: str) -> None:
    queues.send_all(QUEUE, [body])


def note_call(event: CarrierEvent) -> None:
    """A final call status's details (duration, answered-by, price) on the message's log, when the carrier gave any."""
    if not event.call:
        return
    target = _target(event)
    if target is None:
        return
    table.update(
        account_pk(target[0]),
        messages_store.message_sk(target[1]),
        expression="SET #call = :call",
        condition="attribute_exists(pk)",
        names={"#call": "call"},
        vals={":call": dict(event.call)},
    )


def collect(job: dict[str, Any], *, source: RecordingSource) -> str:
    """The worker: fetch, keep (sealed, counted) and link the recording, then delete it at the carrier.

    Idempotent: the recording's id is its call's, so a redelivered job skips what is done. A failed fetch or delete
    raises: the job comes back (then the DLQ, which alarms) and the carrier's copy is never left behind silently.
    """
    account_id, message_id, ref = str(job["account_id"]), str(job["message_id"]), str(job["recording_ref"])
    outcome = "deleted_only"
    message = messages_store.get(account_id, message_id) if job.get("keep") else None
    if message is not None and message.erased:
        message = None  # the person was erased meanwhile: their call's recording is never kept
    account = accounts_dal.get_account(account_id) if message is not None else None
    if message is not None and account is not None and account.status == "active":
        outcome = _keep(account_id, message_id, ref, plan=account.plan, source=source)
    source.delete_recording(ref)
    metrics.add_metric(name="RecordingsDeletedAtCarrier", unit="Count", value=1)
    return outcome


def _keep(account_id: str, message_id: str, ref: str, *, plan: str, source: RecordingSource) -> str:
    rid = files_store.recording_id(message_id)
    if files_store.get(account_id, rid) is None:
        audio = source.fetch_recording(ref, max_bytes=MAX_BYTES)
        try:
            files_logic.store_bytes(account_id, rid, audio, source=SOURCE, plan=plan, message_id=message_id)
        except ProblemError as problem:
            # Not audio of ours, too large, or over the plan's storage: not kept (the carrier's copy still goes).
            logger.warning("recording not kept", extra={"code": problem.code})
            return "not_kept"
    linked = table.update(
        account_pk(account_id),
        messages_store.message_sk(message_id),
        expression="SET recording_id = :rid",
        # An erasure that scrubbed the message meanwhile, or retention that deleted it, wins.
        condition="attribute_exists(pk) AND attribute_not_exists(erased)",
        vals={":rid": rid},
    )
    if linked is None:
        # The message went (retention) or was scrubbed (erasure) meanwhile: its recording goes too.
        files_logic.delete_file(account_id, rid)
        return "message_gone"
    return "stored"


# --- reading ------------------------------------------------------------------------------------------------------


def _own(principal: Principal, rid: str) -> FileRecord:
    record = files_store.get(principal.account_id, rid) if rid.startswith(f"{PREFIX}_") else None
    if record is None or record.source != SOURCE:
        raise NotFound("No such recording.")
    return record


def _accessed(
    principal: Principal, meta: RequestMeta | None, part: str, record: FileRecord | None = None, **data: Any
) -> None:
    """One `recording.accessed`: a recording's metadata or content (`record`), or a list (`data`: what it showed)."""
    target = {"recording_id": record.file_id, "message_id": record.message_id or ""} if record else None
    audit.record(
        account_id=principal.account_id,
        type="recording.accessed",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target=target,
        data={"part": part, **data},
    )


def _out(record: FileRecord) -> RecordingOut:
    return RecordingOut(
        id=record.file_id,
        message_id=record.message_id or "",
        content_type=record.content_type,
        size=record.size,
        sha256=record.sha256,
        created_at=clock.rfc3339_at(record.created_at),
    )


def list_page(principal: Principal, *, limit: int, cursor: str | None, meta: RequestMeta | None) -> RecordingPage:
    """GET /v1/recordings: newest call first, paged; the list is an access too (audited, with the ids it showed)."""
    try:
        records, more = files_store.page(
            principal.account_id, limit=paging.check_limit(limit), cursor=cursor, kind=PREFIX
        )
    except InvalidCursor:
        raise paging.bad_cursor() from None
    shown = [r for r in records if r.source == SOURCE]
    # The ids shown, so an investigation knows which calls' metadata a member saw (at most a page: 100 ids).
    _accessed(principal, meta, "list", count=len(shown), recording_ids=" ".join(r.file_id for r in shown))
    return RecordingPage(data=[_out(r) for r in shown], next_cursor=more)


def read(principal: Principal, rid: str, meta: RequestMeta | None) -> RecordingOut:
    """GET /v1/recordings/{id}: its metadata (audited)."""
    record = _own(principal, rid)
    _accessed(principal, meta, "metadata", record)
    return _out(record)


def content(principal: Principal, rid: str, range_header: str | None, meta: RequestMeta | None) -> files_logic.Content:
    """GET /v1/recordings/{id}/content: the audio, whole or by range (audited, every read)."""
    record = _own(principal, rid)
    _accessed(principal, meta, "content", record)
    return files_logic.serve(record, range_header)

"""Files (issue 14): uploads checked by their bytes, sealed with the account's data key, served back by range.

Every object is sealed client-side (crypto.envelope's STREAM construction) before S3 sees it, so crypto-shredding
an account makes its files noise in every copy; S3 adds SSE-KMS with the data CMK on top. docs/files.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import NoReturn

from switchboard import clock, ids
from switchboard import files as rules
from switchboard.auth import Principal
from switchboard.crypto import envelope
from switchboard.crypto.envelope import KeyShredded
from switchboard.dal import files as store
from switchboard.dal.cursors import InvalidCursor
from switchboard.dal.files import FileRecord
from switchboard.models import paging, plans
from switchboard.models.errors import Conflict, NotFound, PayloadTooLarge, ProblemError
from switchboard.models.files import FileOut, FilePage, FileUploadIn, UploadOut
from switchboard.models.permissions import Permission, allows
from switchboard.observability import logger

SOURCE_UPLOAD = "upload"
PENDING_TTL_S = 86400  # a pending upload's item goes when the bucket's lifecycle removes its staged bytes
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


class StorageLimitExceeded(PayloadTooLarge):
    """413: the account's plan stores no more bytes; nothing was stored."""

    code = "storage_limit_exceeded"
    title = "Storage limit exceeded"


class FileGone(ProblemError):
    """410: the account's key was destroyed (crypto-shredded): its files can never be read again."""

    status = 410
    code = "file_gone"
    title = "Gone"


class RangeNotSatisfiable(ProblemError):
    """416: the range starts beyond the file's last byte."""

    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"


class RangeRequired(PayloadTooLarge):
    """413: the whole file is more than one answer carries; ask for it in ranges."""

    code = "range_required"
    title = "Range required"


@dataclass(frozen=True)
class Content:
    """The bytes of a GET /v1/files/{id}/content answer, its status (200 or 206) and its headers."""

    status: int
    body: bytes
    headers: dict[str, str]


def _gone() -> NoReturn:
    raise FileGone("This account's key was destroyed: its files can never be read again.")


def _out(principal: Principal, record: FileRecord, *, upload: UploadOut | None = None) -> FileOut:
    # A file's name is content (it may name a person): only roles that read content see it.
    filename = store.open_filename(record) if allows(principal.role, Permission.CONTENT_READ) else None
    return FileOut(
        id=record.file_id,
        status="ready" if record.status == store.READY else "pending_upload",
        content_type=record.content_type,
        size=record.size,
        sha256=record.sha256 or None,
        filename=filename,
        source=record.source,
        created_at=clock.rfc3339_at(record.created_at),
        upload=upload,
    )


def _reserve(principal: Principal, size: int) -> None:
    if not store.reserve(principal.account_id, size, limit=plans.storage_bytes(principal.plan)):
        limit = plans.storage_bytes(principal.plan)
        raise StorageLimitExceeded(
            f"The account's plan stores at most {limit} bytes of files; delete some or change plans. "
            "Nothing was stored."
        )


def _check_channel(channel: str | None, content_type: str, size: int) -> None:
    if channel is not None and (problem := rules.allowed_for(channel, content_type, size)) is not None:
        raise problem


def _seal_and_put(record: FileRecord, data: bytes, content_type: str) -> FileRecord:
    """Seal checked bytes and write their object; the ready record (its item is the caller's to write, after the
    object, so an item never points at an object that is not there)."""
    try:
        sealed = envelope.seal_bytes(record.account_id, data, purpose=record.source, object_key=record.object_key)
    except KeyShredded:
        _gone()
    store.put_object(record.object_key, sealed)
    return replace(
        record,
        status=store.READY,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        expires_at=None,
    )


def upload(
    principal: Principal, data: bytes, declared: str | None, *, filename: str | None, channel: str | None
) -> FileOut:
    """POST /v1/files with the bytes as the body → 201 ready (415, 422 content_mismatch, 413: nothing stored)."""
    if len(data) > rules.DIRECT_MAX_BYTES:
        raise rules.FileTooLarge(
            f"A direct upload is at most {rules.DIRECT_MAX_BYTES} bytes; announce larger files with a JSON body "
            "for a presigned upload."
        )
    file_id = ids.new_id("fil")
    record = FileRecord(
        file_id=file_id,
        account_id=principal.account_id,
        status=store.PENDING,
        content_type=rules.canonical(declared) or rules.OCTET_STREAM,
        size=len(data),
        created_at=int(clock.timestamp()),
        source=SOURCE_UPLOAD,
        filename_sealed=_sealed_name(principal.account_id, file_id, filename),
    )
    rules.check_size(len(data))
    content_type = rules.checked_type(data, declared)
    _check_channel(channel, content_type, len(data))
    _reserve(principal, len(data))
    try:
        ready = _seal_and_put(record, data, content_type)
        if not store.put(ready):
            raise RuntimeError(f"file {file_id} exists already")  # a new random id: never
    except Exception:
        store.release(principal.account_id, len(data))
        raise
    return _out(principal, ready)


def _sealed_name(account_id: str, file_id: str, filename: str | None) -> str | None:
    if filename is None:
        return None
    try:
        return store.seal_filename(account_id, file_id, filename)
    except KeyShredded:
        _gone()


def announce(principal: Principal, body: FileUploadIn) -> FileOut:
    """POST /v1/files with a JSON body → 201 pending_upload and a presigned PUT for exactly these bytes."""
    rules.check_size(body.size)
    declared = rules.canonical(body.content_type)
    if declared not in rules.MEDIA_TYPES and declared != rules.OCTET_STREAM:
        raise rules.NotAllowedMedia(f"We store {', '.join(rules.MEDIA_TYPES)}; not {declared}.")
    if declared != rules.OCTET_STREAM:
        _check_channel(body.channel, declared, body.size)
    now = int(clock.timestamp())
    file_id = ids.new_id("fil")
    record = FileRecord(
        file_id=file_id,
        account_id=principal.account_id,
        status=store.PENDING,
        content_type=declared,
        size=body.size,
        created_at=now,
        source=SOURCE_UPLOAD,
        filename_sealed=_sealed_name(principal.account_id, file_id, body.filename),
        expires_at=now + PENDING_TTL_S,
    )
    if not store.put(record):
        raise RuntimeError(f"file {file_id} exists already")  # a new random id: never
    url = store.presigned_put(
        store.staging_key(principal.account_id, file_id),
        content_type=declared,
        size=body.size,
        expires_s=rules.UPLOAD_URL_TTL_S,
    )
    upload = UploadOut(
        url=url,
        headers={"Content-Type": declared, "Content-Length": str(body.size)},
        expires_at=clock.rfc3339_at(now + rules.UPLOAD_URL_TTL_S),
    )
    return _out(principal, record, upload=upload)


def _own(principal: Principal, file_id: str) -> FileRecord:
    # Uploads, and the files of inbound messages (docs/conversations.md); never recordings (their own audited route).
    record = store.get(principal.account_id, file_id) if file_id.startswith(("fil_", "inm_")) else None
    if record is None or (record.expires_at is not None and record.expires_at <= clock.timestamp()):
        raise NotFound("No such file.")
    return record


def _discard_upload(record: FileRecord) -> None:
    store.delete_versions(store.staging_key(record.account_id, record.file_id))
    store.delete(record)


def complete(principal: Principal, file_id: str, *, channel: str | None = None) -> FileOut:
    """POST /v1/files/{id}/complete: check the staged bytes, seal and store them, drop the staged copy → 200 ready.

    A refused upload (other size or type than announced, not a type we store) is discarded whole: 413/415/422.
    """
    record = _own(principal, file_id)
    if record.status == store.READY:
        return _out(principal, record)  # completed already (a retry)
    staged = store.get_object(store.staging_key(record.account_id, file_id))
    if staged is None:
        raise Conflict("Nothing was uploaded to this file's URL yet.", code="upload_missing")
    try:
        if len(staged) != record.size:
            raise rules.ContentMismatch(
                f"{record.size} bytes were announced but {len(staged)} arrived; nothing was stored."
            )
        declared = None if record.content_type == rules.OCTET_STREAM else record.content_type
        rules.check_size(len(staged))
        content_type = rules.checked_type(staged, declared)
        _check_channel(channel, content_type, len(staged))
    except ProblemError:
        _discard_upload(record)
        raise
    _reserve(principal, len(staged))
    try:
        ready = _seal_and_put(record, staged, content_type)
        done = store.mark_ready(record, content_type=ready.content_type, sha256=ready.sha256)
    except Exception:
        store.release(principal.account_id, len(staged))
        raise
    if done is None:
        # Another completion won (a concurrent retry): this one's count goes back, its object version is noncurrent.
        store.release(principal.account_id, len(staged))
        done = _own(principal, file_id)
    store.delete_versions(store.staging_key(record.account_id, file_id))
    return _out(principal, done)


def read(principal: Principal, file_id: str) -> FileOut:
    """GET /v1/files/{id}: the file's metadata."""
    return _out(principal, _own(principal, file_id))


def list_page(principal: Principal, *, limit: int, cursor: str | None) -> FilePage:
    """GET /v1/files: newest first, paged (pending uploads past their expiry left out)."""
    try:
        records, more = store.page(principal.account_id, limit=paging.check_limit(limit), cursor=cursor)
    except InvalidCursor:
        raise paging.bad_cursor() from None
    now = clock.timestamp()
    shown = [r for r in records if r.expires_at is None or r.expires_at > now]
    return FilePage(data=[_out(principal, r) for r in shown], next_cursor=more)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a `Range` header asks for; None to answer the whole file (no header, another unit,
    several ranges or a malformed one: RFC 9110 §14.2 lets a server ignore those); 416 when none of it exists."""
    found = _RANGE.fullmatch((header or "").strip())
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first:
        start = int(first)
        if last and int(last) < start:
            return None
        end = int(last) if last else size - 1
    else:
        start, end = max(0, size - int(last)), size - 1
        if int(last) == 0:
            start = size
    if start >= size:
        raise RangeNotSatisfiable(
            f"The file has {size} bytes: no byte of this range exists.", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, min(end, size - 1)


def _disposition(filename: str | None) -> str:
    if not filename:
        return "attachment"
    # RFC 6266 / 8187: a plain ASCII fallback and the exact name percent-encoded; nothing of it can break the header.
    from urllib.parse import quote  # noqa: PLC0415

    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def content(principal: Principal, file_id: str, range_header: str | None) -> Content:
    """GET /v1/files/{id}/content: the bytes (200), or the range asked for (206, at most 4 MiB of it)."""
    return serve(_own(principal, file_id), range_header)


def serve(record: FileRecord, range_header: str | None) -> Content:
    """A stored file's bytes, whole (200) or the range asked for (206, at most 4 MiB); recordings too."""
    if record.status != store.READY:
        raise Conflict("The file's upload is not complete yet.", code="file_not_ready")
    wanted = byte_range(range_header, record.size)
    if wanted is None and record.size > rules.RESPONSE_MAX_BYTES:
        raise RangeRequired(
            f"The file has {record.size} bytes; one answer carries at most {rules.RESPONSE_MAX_BYTES}. Ask for it "
            f"in parts with a Range header (e.g. `Range: bytes=0-{rules.RESPONSE_MAX_BYTES - 1}`).",
            headers={"Accept-Ranges": "bytes"},
        )
    try:
        if wanted is None:
            body = _whole(record)
        else:
            start, end = wanted[0], min(wanted[1], wanted[0] + rules.RESPONSE_MAX_BYTES - 1)
            body = _span(record, start, end)
    except KeyShredded:
        _gone()
    headers = {
        "Content-Type": record.content_type,
        "Content-Disposition": _disposition(store.open_filename(record)),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Accept-Ranges": "bytes",
        "ETag": f'"{record.sha256}"',
    }
    if wanted is None:
        return Content(200, body, headers)
    headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{record.size}"
    return Content(206, body, headers)


def _missing(record: FileRecord) -> NoReturn:
    # The item says ready but the object is gone: deleted meanwhile (or the account's purge is under way).
    logger.warning("file object missing", extra={"file_id": record.file_id})
    raise NotFound("No such file.")


def _whole(record: FileRecord) -> bytes:
    sealed = store.get_object(record.object_key)
    if sealed is None:
        _missing(record)
    return envelope.open_bytes(record.account_id, sealed, purpose=record.source, object_key=record.object_key)


def _span(record: FileRecord, start: int, end: int) -> bytes:
    span = envelope.sealed_span(record.size, start, end)
    if span.first == 0:
        # The header and the first segments are one read.
        sealed = store.get_object(record.object_key, byte_range=(0, span.end))
        if sealed is None:
            _missing(record)
        header, segments = sealed[: envelope.HEADER_BYTES], sealed[span.start :]
    else:
        header_bytes = store.get_object(record.object_key, byte_range=(0, envelope.HEADER_BYTES - 1))
        segments_bytes = store.get_object(record.object_key, byte_range=(span.start, span.end))
        if header_bytes is None or segments_bytes is None:
            _missing(record)
        header, segments = header_bytes, segments_bytes
    return envelope.open_span(
        record.account_id,
        header,
        segments,
        span,
        plain_size=record.size,
        purpose=record.source,
        object_key=record.object_key,
    )


def delete(principal: Principal, file_id: str) -> None:
    """DELETE /v1/files/{id}: every version of its object (and of a staged upload), then its item → 204."""
    delete_file(principal.account_id, _own(principal, file_id).file_id)


def delete_file(account_id: str, file_id: str) -> bool:
    """Remove one file for good: every object version and delete marker, its item, its bytes from the account's
    count (recipient erasure and retention call this too); False when there was no such file."""
    record = store.get(account_id, file_id)
    if record is None:
        return False
    _remove(record)
    return True


def _remove(record: FileRecord) -> None:
    store.delete_versions(store.object_key(record.account_id, record.file_id))
    if record.source == SOURCE_UPLOAD:
        # Only uploads are staged (a recording is written sealed by the worker): nothing else to list there.
        store.delete_versions(store.staging_key(record.account_id, record.file_id))
    store.delete(record)
    if record.status == store.READY:
        store.release(record.account_id, record.size)


def purge_objects(account_id: str) -> int:
    """A closed account's every object version and delete marker, stored and staged (its items go with its
    partition); how many went."""
    return sum(store.delete_versions(prefix) for prefix in store.account_prefixes(account_id))


def sweep(account_id: str, cutoff_s: int) -> int:
    """Retention: the account's files, call recordings and inbound media made before `cutoff_s`, deleted like DELETE
    does; how many."""
    swept = [r for kind in ("fil", "rec", "inm") for r in store.older_than(account_id, ids.first_id_at(kind, cutoff_s))]
    for record in swept:
        _remove(record)
    return len(swept)


def store_bytes(
    account_id: str,
    file_id: str,
    data: bytes,
    *,
    source: str,
    plan: str,
    message_id: str | None = None,
    recipient_id: str | None = None,
) -> FileRecord | None:
    """Keep bytes the platform fetched itself (a call recording, inbound media) as a ready file under `file_id`:
    sniffed (415 when none of ours), counted against the plan's storage (413), sealed. None when a file with this id
    exists already (a retried job: the first one stored it)."""
    existing = store.get(account_id, file_id)
    if existing is not None:
        return None
    rules.check_size(len(data))
    content_type = rules.checked_type(data, None)
    if not store.reserve(account_id, len(data), limit=plans.storage_bytes(plan)):
        raise StorageLimitExceeded(f"The account's plan stores at most {plans.storage_bytes(plan)} bytes of files.")
    record = FileRecord(
        file_id=file_id,
        account_id=account_id,
        status=store.PENDING,
        content_type=content_type,
        size=len(data),
        created_at=int(clock.timestamp()),
        source=source,
        message_id=message_id,
        recipient_id=recipient_id,
    )
    try:
        ready = _seal_and_put(record, data, content_type)
        stored = store.put(ready)
    except Exception:
        store.release(account_id, len(data))
        raise
    if not stored:
        store.release(account_id, len(data))  # a concurrent retry won; its object is the same bytes
        return None
    return ready

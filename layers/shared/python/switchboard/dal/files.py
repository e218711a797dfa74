"""Files: metadata items and the storage counter in Messaging (`ACCT#<id>` / `FILE#<file_id>`, `FILES#USAGE`), and
the sealed objects in the Files bucket (`files/<account_id>/<file_id>`; uploads staged under `incoming/…`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from switchboard import catalog, settings
from switchboard.crypto import envelope
from switchboard.dal import clients
from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk

BUCKET = catalog.bucket("Files")
BUCKET_ENV = BUCKET.env
PREFIX = "FILE#"
USAGE_SK = "FILES#USAGE"
PENDING, READY = "pending_upload", "ready"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 versions per call


@dataclass(frozen=True)
class FileRecord:
    """One file of an account, its name still sealed (`open_filename`)."""

    file_id: str
    account_id: str
    status: str  # pending_upload | ready
    content_type: str  # sniffed once ready; the declared type while pending
    size: int  # bytes of the plaintext (declared while pending)
    created_at: int  # epoch seconds
    source: str  # upload | recording | inbound
    sha256: str = ""  # of the plaintext, once ready
    filename_sealed: str | None = None
    expires_at: int | None = None  # a pending upload's item goes with its staging object
    message_id: str | None = None  # a recording: the call (message) it recorded; inbound media: the inbound message
    recipient_id: str | None = None  # inbound media: who sent it (erasure finds it by its inbound message too)

    @property
    def object_key(self) -> str:
        """Where its sealed object lives."""
        return object_key(self.account_id, self.file_id)


def recording_id(message_id: str) -> str:
    """A call's recording id: its message's id under the `rec` prefix, so a retried job finds the one it stored
    (and recordings sort by their call's time, which retention's key-range sweep relies on)."""
    return f"rec_{message_id.removeprefix('msg_')}"


def inbound_media_id(inbound_id: str, index: int) -> str:
    """The id of an inbound message's `index`th file: its message's id under `inm_` and the index (0-9), so a
    redelivered job finds what it stored, an erasure finds the files of a message, and they sort by time (retention's
    key-range sweep)."""
    return f"inm_{inbound_id.removeprefix('inb_')}{index}"


def bucket_name() -> str:
    """The Files bucket's physical name (NotGranted where the function has no grant on it)."""
    return settings.get().bucket(BUCKET_ENV)


def object_key(account_id: str, file_id: str) -> str:
    """The key of a file's sealed object."""
    return f"{BUCKET.stored_prefix}/{account_id}/{file_id}"


def staging_key(account_id: str, file_id: str) -> str:
    """Where a presigned upload puts the file's bytes (expired by lifecycle after a day)."""
    return f"{BUCKET.staging_prefix}/{account_id}/{file_id}"


def account_prefixes(account_id: str) -> tuple[str, str]:
    """Every object of an account lives under one of these prefixes (the purge deletes both)."""
    return f"{BUCKET.stored_prefix}/{account_id}/", f"{BUCKET.staging_prefix}/{account_id}/"


def _sk(file_id: str) -> str:
    return f"{PREFIX}{file_id}"


def _record(item: dict[str, Any]) -> FileRecord:
    return FileRecord(
        file_id=str(item["file_id"]),
        account_id=str(item["account_id"]),
        status=str(item["status"]),
        content_type=str(item["content_type"]),
        size=int(item["size"]),
        created_at=int(item["created_at"]),
        source=str(item.get("source") or "upload"),
        sha256=str(item.get("sha256") or ""),
        filename_sealed=item.get("filename_sealed"),
        expires_at=int(item["expires_at"]) if item.get("expires_at") is not None else None,
        message_id=item.get("message_id"),
        recipient_id=item.get("recipient_id"),
    )


def seal_filename(account_id: str, file_id: str, filename: str) -> str:
    """A file name sealed to its item."""
    pk, sk = account_pk(account_id), _sk(file_id)
    return envelope.seal(
        account_id, filename, table=table.TABLE, item_key=table.item_key(pk, sk), field="filename_sealed"
    )


def open_filename(record: FileRecord) -> str | None:
    """The file's name, if it was given one."""
    if record.filename_sealed is None:
        return None
    pk, sk = account_pk(record.account_id), _sk(record.file_id)
    return envelope.open_sealed(
        record.account_id,
        record.filename_sealed,
        table=table.TABLE,
        item_key=table.item_key(pk, sk),
        field="filename_sealed",
    )


def put(record: FileRecord) -> bool:
    """Store a new file's item; False when one with its id exists (a recording's id is its call's: a retry)."""
    item = {
        "pk": account_pk(record.account_id),
        "sk": _sk(record.file_id),
        "file_id": record.file_id,
        "account_id": record.account_id,
        "status": record.status,
        "content_type": record.content_type,
        "size": record.size,
        "created_at": record.created_at,
        "source": record.source,
        "sha256": record.sha256 or None,
        "filename_sealed": record.filename_sealed,
        "expires_at": record.expires_at,
    }
    if record.message_id is not None:
        item["message_id"] = record.message_id
    if record.recipient_id is not None:
        item["recipient_id"] = record.recipient_id
    return table.put(item, condition="attribute_not_exists(pk)")


def mark_ready(record: FileRecord, *, content_type: str, sha256: str) -> FileRecord | None:
    """A pending upload becomes ready (no more expiry); None when it is no longer pending (another call won)."""
    new = table.update(
        account_pk(record.account_id),
        _sk(record.file_id),
        expression="SET #status = :ready, content_type = :type, sha256 = :sha REMOVE expires_at",
        condition="#status = :pending",
        names={"#status": "status"},
        vals={":ready": READY, ":pending": PENDING, ":type": content_type, ":sha": sha256},
    )
    return _record(new) if new else None


def get(account_id: str, file_id: str) -> FileRecord | None:
    """The account's file, or None (another account's id finds nothing: the key starts with the account)."""
    item = table.get(account_pk(account_id), _sk(file_id))
    return _record(item) if item else None


def page(account_id: str, *, limit: int, cursor: str | None, kind: str = "fil") -> tuple[list[FileRecord], str | None]:
    """One kind of the account's files (`fil` uploads, `rec` recordings), newest first (ids sort by creation time);
    InvalidCursor for a cursor this list did not issue."""
    # One kind per list: recordings (`FILE#rec_…`) are read through /v1/recordings, audited, never /v1/files.
    items, more = table.query_page(
        pk_value=account_pk(account_id), prefix=f"{PREFIX}{kind}_", limit=limit, cursor=cursor, forward=False
    )
    return [_record(item) for item in items], more


def older_than(account_id: str, before_id: str) -> Iterator[FileRecord]:
    """The account's files of `before_id`'s kind (`fil`, `rec`) made before it (an id made at the cutoff time): one
    key-range Query."""
    cursor: str | None = None
    kind = before_id.split("_", 1)[0]
    while True:
        items, cursor = table.query_page(
            pk_value=account_pk(account_id), sk_between=(f"{PREFIX}{kind}_", _sk(before_id)), cursor=cursor
        )
        yield from (_record(item) for item in items)
        if cursor is None:
            return


def delete(record: FileRecord) -> None:
    """Remove the file's item."""
    table.delete(account_pk(record.account_id), _sk(record.file_id))


# --- the storage counter ----------------------------------------------------------------------------------------


def reserve(account_id: str, size: int, *, limit: int) -> bool:
    """Count `size` more bytes stored by the account, unless that would pass `limit`: one conditional ADD, so two
    uploads at once can never both pass it."""
    updated = table.update(
        account_pk(account_id),
        USAGE_SK,
        expression="ADD stored_bytes :size",
        condition="attribute_not_exists(stored_bytes) OR stored_bytes <= :room",
        vals={":size": size, ":room": limit - size},
    )
    return updated is not None


def release(account_id: str, size: int) -> None:
    """Count `size` bytes fewer (a file deleted, or an upload that was refused after its reservation)."""
    table.update(account_pk(account_id), USAGE_SK, expression="ADD stored_bytes :size", vals={":size": -size})


def usage(account_id: str) -> int:
    """Bytes the account stores now."""
    item = table.get(account_pk(account_id), USAGE_SK)
    return int(item.get("stored_bytes", 0)) if item else 0


# --- objects ------------------------------------------------------------------------------------------------------


def _s3() -> Any:
    return clients.client("s3")


def put_object(key: str, body: bytes) -> None:
    """Store a sealed object (the bucket's default encryption, SSE-KMS with the data key, applies on top)."""
    _s3().put_object(Bucket=bucket_name(), Key=key, Body=body, ContentType="application/octet-stream")


def get_object(key: str, *, byte_range: tuple[int, int] | None = None) -> bytes | None:
    """An object's bytes (`byte_range`: first and last byte, inclusive), or None when there is none."""
    request: dict[str, Any] = {"Bucket": bucket_name(), "Key": key}
    if byte_range is not None:
        request["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
    try:
        response = _s3().get_object(**request)
    except _s3().exceptions.NoSuchKey:
        return None
    body: bytes = response["Body"].read()
    return body


def delete_versions(prefix: str) -> int:
    """Delete every version and delete marker under `prefix`; how many went."""
    client, bucket = _s3(), bucket_name()
    deleted = 0
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for listing in pages:
        versions = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(versions), DELETE_BATCH):
            batch = versions[start : start + DELETE_BATCH]
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise RuntimeError(f"{len(response['Errors'])} object versions under {prefix} were not deleted")
            deleted += len(batch)
    return deleted


def presigned_put(key: str, *, content_type: str, size: int, expires_s: int) -> str:
    """A URL that lets its holder PUT exactly `size` bytes of `content_type` at `key` for `expires_s` seconds (both
    headers are signed: any other length or type is refused by S3)."""
    url: str = _s3().generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket_name(), "Key": key, "ContentType": content_type, "ContentLength": size},
        ExpiresIn=expires_s,
        HttpMethod="PUT",
    )
    return url

"""The audit anchors bucket (S3 Object Lock, compliance mode): each account's anchored chain heads and archive.

`anchors/<account>/<inverted seq>.json` holds one anchored head; the inverted, zero-padded sequence number makes
S3's ascending listing return the newest anchor first (one ListObjectsV2 with MaxKeys=1). `archive/<account>/
<first>-<last>.jsonl` holds the events an anchor covers, one JSON object a line. Every object is written once
(If-None-Match: *; the bucket policy refuses a PutObject without it) and retained by the bucket's default
retention: nobody, the writer included, can change or delete one before it expires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients

SEQ_DIGITS = 12
_INVERT = 10**SEQ_DIGITS - 1
_EXISTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


@dataclass(frozen=True)
class Anchor:
    """One anchored chain head: the newest event the anchor job checked (hash chain and MAC) at `anchored_at`."""

    account_id: str
    seq: int
    hash: str
    mac: str
    at: str  # the event's own time
    anchored_at: str


def _bucket() -> str:
    return settings.get().key(catalog.AUDIT_ANCHOR_BUCKET_ENV)


def _s3() -> Any:
    return clients.client("s3")


def anchor_prefix(account_id: str) -> str:
    """Where an account's anchors live."""
    return f"anchors/{account_id}/"


def anchor_key(account_id: str, seq: int) -> str:
    """The object key of the anchor of event `seq` (newest first in S3's listing order)."""
    return f"{anchor_prefix(account_id)}{_INVERT - seq:0{SEQ_DIGITS}d}.json"


def archive_key(account_id: str, first: int, last: int) -> str:
    """The object key of the archived events `first`..`last`."""
    return f"archive/{account_id}/{first:0{SEQ_DIGITS}d}-{last:0{SEQ_DIGITS}d}.jsonl"


def newest(account_id: str) -> Anchor | None:
    """The account's newest anchor, or None before its first."""
    listed = _s3().list_objects_v2(Bucket=_bucket(), Prefix=anchor_prefix(account_id), MaxKeys=1)
    contents = listed.get("Contents") or []
    if not contents:
        return None
    body = _s3().get_object(Bucket=_bucket(), Key=contents[0]["Key"])["Body"].read()
    raw = json.loads(body)
    return Anchor(
        account_id=str(raw["account_id"]),
        seq=int(raw["seq"]),
        hash=str(raw["hash"]),
        mac=str(raw["mac"]),
        at=str(raw["at"]),
        anchored_at=str(raw["anchored_at"]),
    )


def _put_once(key: str, body: bytes, content_type: str) -> bool:
    try:
        _s3().put_object(
            Bucket=_bucket(),
            Key=key,
            Body=body,
            ContentType=content_type,
            IfNoneMatch="*",
            # Object Lock buckets refuse a PutObject without an integrity checksum.
            ChecksumAlgorithm="SHA256",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _EXISTS:
            return False  # written by an earlier (retried) run: objects are immutable, the first one stands
        raise
    return True


def put_archive(account_id: str, first: int, last: int, events: Iterable[dict[str, Any]]) -> bool:
    """Archive events `first`..`last` (once; False when that object already exists)."""
    lines = "".join(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n" for event in events)
    return _put_once(archive_key(account_id, first, last), lines.encode(), "application/x-ndjson")


def put_anchor(anchor: Anchor) -> bool:
    """Anchor a chain head (once; False when that object already exists)."""
    body = json.dumps(asdict(anchor), sort_keys=True).encode()
    return _put_once(anchor_key(anchor.account_id, anchor.seq), body, "application/json")

"""Recording audit events: every security-relevant action becomes one structured, append-only event."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from switchboard import clock, ids
from switchboard.dal import audit as store
from switchboard.models.audit import AuditEvent, AuditPage, ChainVerification, Outcome, Scalar
from switchboard.models.errors import BadRequest
from switchboard.models.request import RequestMeta
from switchboard.observability import logger

GENESIS_HASH = "0" * 64
# Each lost race means another writer appended, so the chain always advances; this only bounds a pathological pile-up.
MAX_APPEND_ATTEMPTS = 50
MAX_PAGE = 100


class AuditContention(Exception):
    """The event could not be appended after MAX_APPEND_ATTEMPTS lost races (never expected in practice)."""


def chain_hash(account_id: str, seq: int, prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the event, its position and its predecessor's hash."""
    payload = {**fields, "account_id": account_id, "seq": seq, "prev_hash": prev_hash}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    *,
    account_id: str,
    type: str,  # the field name API.md uses
    outcome: Outcome,
    actor: str,
    meta: RequestMeta | None = None,
    target: dict[str, str] | None = None,
    data: dict[str, Scalar] | None = None,
) -> AuditEvent:
    """Append one event to `account_id`'s hash-chained trail, log it, and return it (log only without an account)."""
    event = AuditEvent(
        id=ids.new_id("evt"),
        account_id=account_id,
        type=type,
        outcome=outcome,
        actor=actor,
        at=clock.rfc3339(clock.now()),
        source_ip=meta.source_ip if meta else "",
        user_agent=meta.user_agent if meta else "",
        request_id=meta.request_id if meta else "",
        target=target or {},
        data=data or {},
    )
    fields = event.model_dump()
    if not account_id:
        # No tenant (e.g. a failed login for an unknown e-mail): there is no trail to chain into, the log keeps it.
        logger.info("audit", extra={"audit": fields})
        return event
    for _ in range(MAX_APPEND_ATTEMPTS):
        # Two writers may read the same head; the conditional put on seq + 1 lets exactly one of them win.
        head = store.head(account_id)
        seq = head.seq + 1 if head else 1
        prev_hash = head.hash if head else GENESIS_HASH
        digest = chain_hash(account_id, seq, prev_hash, fields)
        if store.append(account_id, seq, prev_hash=prev_hash, hash=digest, fields=fields):
            # Values are fields of one JSON record, never concatenated into the message (log injection, R56).
            logger.info("audit", extra={"audit": fields, "audit_seq": seq})
            return event
    raise AuditContention(f"audit event {event.id} not appended after {MAX_APPEND_ATTEMPTS} attempts")


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"evt:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, number = raw.partition(":")
    if prefix != "evt" or not (number.isascii() and number.isdigit()) or len(number) > 18 or int(number) < 1:
        raise BadRequest("The cursor is not one this API returned.", code="invalid_cursor")
    return int(number)


def list_events(account_id: str, limit: int = 25, cursor: str | None = None) -> AuditPage:
    """One page of the account's trail, newest first; `next_cursor` continues with older events."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}.", code="invalid_limit")
    before = _decode_cursor(cursor) if cursor else None
    # One more than asked tells whether an older page exists without a second round-trip.
    stored = store.newest_first(account_id, limit=limit + 1, before_seq=before)
    page = stored[:limit]
    next_cursor = _encode_cursor(page[-1].seq) if len(stored) > limit else None
    return AuditPage(data=[AuditEvent.model_validate(s.fields) for s in page], next_cursor=next_cursor)


def verify(account_id: str) -> ChainVerification:
    """Recompute the chain oldest first; the first altered, reordered or post-gap event makes it invalid."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for sk, event in store.oldest_first(account_id):
        checked += 1
        intact = (
            event.seq == expected_seq
            and sk == store.event_sk(event.seq)
            and event.prev_hash == prev_hash
            and event.fields.get("account_id") == account_id
            and chain_hash(account_id, event.seq, event.prev_hash, event.fields) == event.hash
        )
        if not intact:
            return ChainVerification(valid=False, checked=checked, first_bad=str(event.fields.get("id") or sk))
        expected_seq, prev_hash = expected_seq + 1, event.hash
    return ChainVerification(valid=True, checked=checked)

"""Recording audit events: every security-relevant action becomes one structured, append-only, keyed-chain event.

Tamper evidence (R55), against anyone who can write the Audit table:
- Each event carries `hash`, a SHA-256 over its canonical fields, account, position and predecessor's hash, and
  `mac`, an HMAC-SHA-256 by a KMS HMAC key (GenerateMac; no function can read the key) over the account, position,
  hash, predecessor's MAC and time, and its expiry. Without the key nobody can write an event that verifies.
- The anchor job (`anchor_all`, every 15 minutes) checks each account's new events (hash chain and every MAC, by
  KMS VerifyMac), archives them and writes the chain head (seq, hash, MAC) to an S3 bucket with Object Lock in
  compliance mode that no function can overwrite or delete. Verification compares the chain with the newest
  anchor: deleting the newest events below it, or rewriting the chain (even by a role that may GenerateMac, hence
  can recompute MACs), changes or removes the anchored head and is detected. Events after the newest anchor
  (at most one period's) are verified by their MACs alone.
- Events expire after the audit retention (DynamoDB TTL on `expires_at`, the archive's Object Lock retention the
  same): a gap is accepted only where the event after it shows, in its MACed `prev_at`, that its predecessor had
  expired.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack

from switchboard import clock, ids, settings
from switchboard.crypto import macs
from switchboard.dal import anchors, cursors, denials
from switchboard.dal import audit as store
from switchboard.models import paging
from switchboard.models.request import RequestMeta
from switchboard.observability import logger, metrics

if TYPE_CHECKING:
    from switchboard.auth import Principal
    from switchboard.models.audit import AuditEvent, AuditPage, ChainVerification, Outcome, Scalar

GENESIS_HASH = "0" * 64
GENESIS_MAC = ""  # the first event's prev_mac
MAC_VERSION = 1
DAY_S = 86400
# Each lost race means another writer appended, so the chain always advances; this only bounds a pathological pile-up.
MAX_APPEND_ATTEMPTS = 50
# R54 refused actions are audited, but must not flood a tenant's trail: at most this many denied events per actor
# (user, API key) and minute are chained; the rest of that minute go to the log and the AuditDeniedSuppressed metric.
DENIED_PER_MINUTE = 10


class ChainBroken(Exception):
    """The anchor job found an account whose new events do not verify (an operator must look: R55)."""


class AuditContention(Exception):
    """The event could not be appended after MAX_APPEND_ATTEMPTS lost races (never expected in practice)."""


def chain_hash(account_id: str, seq: int, prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the event, its position and its predecessor's hash."""
    payload = {**fields, "account_id": account_id, "seq": seq, "prev_hash": prev_hash}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def mac_message(account_id: str, event: store.StoredEvent) -> bytes:
    """What the KMS MAC covers: the account, position, the event's hash (which commits to its canonical fields and
    predecessor's hash), the predecessor's MAC and time, and the event's expiry. Fixed size, far below KMS's 4 KB."""
    payload = {
        "v": MAC_VERSION,
        "account_id": account_id,
        "seq": event.seq,
        "hash": event.hash,
        "prev_mac": event.prev_mac,
        "prev_at": event.prev_at,
        "expires_at": event.expires_at,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _retention_s() -> int:
    return settings.get().audit_retention_days * DAY_S


class EventFields(TypedDict):
    """What an audited action states: the keyword arguments of `record` and `new_event`."""

    account_id: str
    type: str  # the field name API.md uses
    outcome: Outcome
    actor: str
    meta: NotRequired[RequestMeta | None]
    target: NotRequired[dict[str, str] | None]
    data: NotRequired[dict[str, Scalar] | None]


def new_event(**fields: Unpack[EventFields]) -> AuditEvent:
    """An audit event as `record` appends it (a new id, now, the request's address, agent and id), not yet stored."""
    from switchboard.models.audit import AuditEvent  # noqa: PLC0415 - pydantic: not in the authorizer's import

    meta = fields.get("meta")
    return AuditEvent(
        id=ids.new_id("evt"),
        account_id=fields["account_id"],
        type=fields["type"],
        outcome=fields["outcome"],
        actor=fields["actor"],
        at=clock.rfc3339(clock.now()),
        source_ip=meta.source_ip if meta else "",
        user_agent=meta.user_agent if meta else "",
        request_id=meta.request_id if meta else "",
        target=fields.get("target") or {},
        data=fields.get("data") or {},
    )


def record(**stated: Unpack[EventFields]) -> AuditEvent:
    """Append one event to `account_id`'s keyed chain, log it, and return it (log only without an account)."""
    event = new_event(**stated)
    account_id = stated["account_id"]
    fields = event.model_dump()
    if not account_id:
        # No tenant (e.g. a failed login for an unknown e-mail): there is no trail to chain into, the log keeps it.
        logger.info("audit", extra={"audit": fields})
        return event
    expires_at = int(clock.timestamp()) + _retention_s()
    for _ in range(MAX_APPEND_ATTEMPTS):
        # Two writers may read the same head; the conditional put on seq + 1 lets exactly one of them win.
        head = store.head(account_id)
        seq = head.seq + 1 if head else 1
        prev_hash = head.hash if head else GENESIS_HASH
        unsigned = store.StoredEvent(
            seq=seq,
            prev_hash=prev_hash,
            hash=chain_hash(account_id, seq, prev_hash, fields),
            fields=fields,
            prev_mac=head.mac if head else GENESIS_MAC,
            prev_at=str(head.fields.get("at", "")) if head else "",
            expires_at=expires_at,
        )
        stored = store.StoredEvent(**{**unsigned.__dict__, "mac": macs.generate(mac_message(account_id, unsigned))})
        if store.append(account_id, stored):
            # Values are fields of one JSON record, never concatenated into the message (log injection, R56).
            logger.info("audit", extra={"audit": fields, "audit_seq": seq})
            return event
    raise AuditContention(f"audit event {event.id} not appended after {MAX_APPEND_ATTEMPTS} attempts")


def success(
    principal: Principal,
    type: str,  # the field name API.md uses
    meta: RequestMeta | None,
    *,
    target: dict[str, str] | None = None,
    data: dict[str, Scalar] | None = None,
) -> AuditEvent:
    """`record` a successful action of `principal` in its own account (what most audited actions are)."""
    return record(
        account_id=principal.account_id,
        type=type,
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target=target,
        data=data,
    )


def record_denied(
    *,
    account_id: str,
    type: str,  # the field name API.md uses
    actor: str,
    meta: RequestMeta | None = None,
    target: dict[str, str] | None = None,
    data: dict[str, Scalar] | None = None,
) -> AuditEvent | None:
    """A refused action (outcome "denied"): chained unless its actor already has DENIED_PER_MINUTE this minute.

    None when capped: the refusal is still logged (one JSON record) and counted, never chained.
    """
    minute = int(clock.timestamp()) // 60
    if account_id and not denials.take(
        account_id, actor, minute=minute, limit=DENIED_PER_MINUTE, expires_at=(minute + 2) * 60
    ):
        logger.info(
            "audit suppressed",
            extra={"audit": {"account_id": account_id, "type": type, "actor": actor, "outcome": "denied"}},
        )
        metrics.add_metric(name="AuditDeniedSuppressed", unit="Count", value=1)
        return None
    return record(account_id=account_id, type=type, outcome="denied", actor=actor, meta=meta, target=target, data=data)


def _encode_cursor(seq: int) -> str:
    return cursors.encode({"seq": str(seq)})


def _decode_cursor(cursor: str) -> int:
    try:
        number = cursors.decode(cursor, keys={"seq"})["seq"]
    except cursors.InvalidCursor:
        raise paging.bad_cursor() from None
    if not (number.isascii() and number.isdigit()) or len(number) > 18 or int(number) < 1:
        raise paging.bad_cursor()
    return int(number)


def list_events(account_id: str, limit: int = 25, cursor: str | None = None) -> AuditPage:
    """One page of the account's trail, newest first; `next_cursor` continues with older events."""
    from switchboard.models.audit import AuditEvent, AuditPage  # noqa: PLC0415 - pydantic: not in the authorizer's import

    paging.check_limit(limit)
    before = _decode_cursor(cursor) if cursor else None
    # One more than asked tells whether an older page exists without a second round-trip.
    stored = store.newest_first(account_id, limit=limit + 1, before_seq=before)
    page = stored[:limit]
    next_cursor = _encode_cursor(page[-1].seq) if len(stored) > limit else None
    return AuditPage(data=[AuditEvent.model_validate(s.fields) for s in page], next_cursor=next_cursor)


def _expired(at: str, now: float) -> bool:
    """Whether an event of time `at` is past the retention (so its TTL may have removed it)."""
    try:
        moment = clock.parse(at)
    except ValueError:
        return False
    return moment.timestamp() + _retention_s() <= now


@dataclass(frozen=True)
class _Break:
    """Where and why a chain breaks."""

    checked: int
    first_bad: str | None
    reason: str


@dataclass
class _Chain:
    """What the walk over an account's events learned."""

    checked: int = 0
    last_seq: int = 0
    unanchored: list[store.StoredEvent] | None = None


def _walk(  # noqa: PLR0911 - one return per kind of break
    account_id: str,
    events: Iterable[tuple[str, store.StoredEvent]],
    *,
    after: anchors.Anchor | None,
    newest: anchors.Anchor | None,
    now: float,
) -> _Chain | _Break:
    """Check positions, links, hashes and the anchored head (no KMS call); collect the events after `newest`.

    `after` is the anchor the walk starts from (the anchor job continues from its last one); None: from genesis.
    """
    chain = _Chain(unanchored=[], last_seq=after.seq if after else 0)
    expected_seq = chain.last_seq + 1
    prev_hash = after.hash if after else GENESIS_HASH
    prev_mac = after.mac if after else GENESIS_MAC
    for place, event in events:
        chain.checked += 1
        ident = str(event.fields.get("id") or place)
        if event.seq != expected_seq:
            # Only expiry may leave a gap: the event after it says its predecessor's time, under its MAC.
            if event.seq < expected_seq or not _expired(event.prev_at, now):
                return _Break(chain.checked, ident, "gap")
        elif event.prev_hash != prev_hash or event.prev_mac != prev_mac:
            return _Break(chain.checked, ident, "broken_link")
        if (
            not store.in_place(place, event.seq)
            or event.fields.get("account_id") != account_id
            or chain_hash(account_id, event.seq, event.prev_hash, event.fields) != event.hash
        ):
            return _Break(chain.checked, ident, "altered")
        if not event.mac:
            return _Break(chain.checked, ident, "unkeyed")
        if newest is not None and event.seq == newest.seq and (event.hash, event.mac) != (newest.hash, newest.mac):
            return _Break(chain.checked, ident, "anchor_mismatch")
        if newest is None or event.seq > newest.seq:
            assert chain.unanchored is not None  # noqa: S101 - set above
            chain.unanchored.append(event)
        expected_seq, prev_hash, prev_mac, chain.last_seq = event.seq + 1, event.hash, event.mac, event.seq
    if newest is not None and chain.last_seq < newest.seq and not _expired(newest.at, now):
        # The newest anchored events are gone (or the chain was rebuilt shorter): deletion below the anchor.
        return _Break(chain.checked, None, "truncated")
    return chain


def _first_bad_mac(account_id: str, events: Iterable[store.StoredEvent]) -> store.StoredEvent | None:
    for event in events:
        if not macs.verify(mac_message(account_id, event), event.mac):
            return event
    return None


def verify(account_id: str) -> ChainVerification:
    """Check the account's chain oldest first against its newest anchor, and the MAC of every unanchored event.

    Detected: any altered, reordered, inserted or deleted event (a gap that expiry does not explain), the newest
    events deleted below the anchored head, a chain rebuilt with the key (it no longer ends in the anchored head)
    and, after the anchor, any event whose MAC the key did not make.
    """
    from switchboard.models.audit import ChainVerification  # noqa: PLC0415 - pydantic: not in the authorizer's import

    newest = anchors.newest(account_id)
    anchored = newest.seq if newest else None
    walked = _walk(account_id, store.oldest_first(account_id), after=None, newest=newest, now=clock.timestamp())
    if isinstance(walked, _Break):
        return ChainVerification(
            valid=False, checked=walked.checked, first_bad=walked.first_bad, reason=walked.reason, anchored_seq=anchored
        )
    bad = _first_bad_mac(account_id, walked.unanchored or [])
    if bad is not None:
        return ChainVerification(
            valid=False,
            checked=walked.checked,
            first_bad=str(bad.fields.get("id") or bad.seq),
            reason="mac_invalid",
            anchored_seq=anchored,
        )
    return ChainVerification(valid=True, checked=walked.checked, anchored_seq=anchored)


@dataclass(frozen=True)
class AnchorResult:
    """What the anchor job did for one account."""

    anchored_seq: int | None  # the new anchored head; None when nothing was new or the chain is broken
    broken: str | None = None  # why the new events were not anchored


def anchor_account(account_id: str) -> AnchorResult:
    """Check the events after the newest anchor (links, hashes, every MAC), archive them, anchor the new head.

    A broken chain is not anchored: it is logged as an error (an alarm) and stays detectable by verification.
    """
    previous = anchors.newest(account_id)
    events = list(store.oldest_first(account_id, after_seq=previous.seq if previous else 0))
    if not events:
        return AnchorResult(anchored_seq=None)
    walked = _walk(account_id, events, after=previous, newest=None, now=clock.timestamp())
    broken: str | None
    if isinstance(walked, _Break):
        broken = walked.reason
    else:
        bad = _first_bad_mac(account_id, (event for _, event in events))
        broken = None if bad is None else "mac_invalid"
    if broken is not None:
        logger.error("audit chain broken", extra={"account_id": account_id, "reason": broken})
        metrics.add_metric(name="AuditChainBroken", unit="Count", value=1)
        return AnchorResult(anchored_seq=None, broken=broken)
    first, head = events[0][1], events[-1][1]
    anchors.put_archive(account_id, first.seq, head.seq, ({**e.fields, **e.chain()} for _, e in events))
    anchors.put_anchor(
        anchors.Anchor(
            account_id=account_id,
            seq=head.seq,
            hash=head.hash,
            mac=head.mac,
            at=str(head.fields.get("at", "")),
            anchored_at=clock.rfc3339(clock.now()),
        )
    )
    return AnchorResult(anchored_seq=head.seq)


def anchor_all() -> dict[str, Any]:
    """The anchor job: every account's new events checked, archived and anchored; a report of what it did."""
    anchored = unchanged = 0
    broken: dict[str, str] = {}
    for account_id in sorted(store.account_ids()):
        result = anchor_account(account_id)
        if result.broken is not None:
            broken[account_id] = result.broken
        elif result.anchored_seq is None:
            unchanged += 1
        else:
            anchored += 1
    return {"anchored": anchored, "unchanged": unchanged, "broken": broken}

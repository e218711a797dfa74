"""The consent ledger: append-only entries per recipient and channel; the latest entry is the current state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.dal import recipients as store
from switchboard.dal.recipients import ConsentRecord, Recipient
from switchboard.logic import audit, webhook_events
from switchboard.logic import recipients as recipients_logic
from switchboard.logic.ports import AuditLog, Events
from switchboard.models.audit import Scalar
from switchboard.models.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from switchboard.models.recipients import ConsentEntry, ConsentIn, ConsentLedger, Evidence
from switchboard.models.request import RequestMeta

# Sources only the platform can witness: a person's keyword, a carrier's or WhatsApp's preference, anything inbound
# processing records. The API refuses them (and any source named like them), so the ledger cannot be forged.
PLATFORM_SOURCES = frozenset(
    {"keyword", "carrier", "carrier_preference", "carrier_opt_out", "whatsapp_preference", "inbound", "system"}
)
_PLATFORM_PREFIXES = ("keyword", "carrier", "inbound", "platform", "system", "whatsapp", "tombstone")
# How far ahead of our clock an evidence's captured_at may be (the capturing server's clock may run a little fast).
EVIDENCE_SKEW_S = 300
_ANY = True  # set_consent's "whatever came before"


class ConsentStore(Protocol):
    """The recipients repository as the ledger uses it: `dal.recipients` (moto tests), or an in-memory fake."""

    def get(self, account_id: str, recipient_id: str) -> Recipient | None: ...
    def latest_consent(
        self, account_id: str, recipient_id: str, channel: str, *, status: str | None = None
    ) -> ConsentRecord | None: ...
    def set_consent(
        self,
        account_id: str,
        entry: ConsentRecord,
        *,
        evidence_json: str | None = None,
        expected_last: str | bool | None = True,
    ) -> ConsentRecord | None: ...
    def open_field(self, account_id: str, item: ConsentRecord, field: str) -> str: ...
    def remove_tombstone_channel(self, account_id: str, phone_index: str, channel: str) -> None: ...
    def ledger(
        self, account_id: str, recipient_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ConsentRecord], str | None]: ...


class ConsentChanged(Conflict):
    """Another ledger entry on the channel was written between our read and our write."""

    code = "consent_changed"


def platform_only(source: str) -> bool:
    """True for a source the API may not write."""
    return source in PLATFORM_SOURCES or source.startswith(_PLATFORM_PREFIXES)


def by_person(entry: ConsentRecord | None) -> bool:
    """An opt-out the person made themselves (a keyword, a carrier or WhatsApp preference): only they lift it."""
    return entry is not None and entry.status == "opted_out" and platform_only(entry.source)


def current(recipient: Recipient, channel: str) -> str | None:
    """The recipient's consent on a channel (its latest ledger entry), None when never recorded."""
    return recipient.consent.get(channel) or None


def allows_send(recipient: Recipient | None, channel: str) -> bool:
    """Only an opt-in on exactly this channel allows a business-initiated send (R62)."""
    return recipient is not None and current(recipient, channel) == "opted_in"


def append(
    *,
    account_id: str,
    recipient: Recipient,
    channel: str,
    status: str,
    source: str,
    actor: str,
    meta: RequestMeta | None,
    evidence: Evidence | None = None,
    expected_last: str | bool | None = _ANY,
    overrides: str | None = None,
    repo: ConsentStore = store,
    trail: AuditLog = audit,
    events: Events = webhook_events,
) -> ConsentEntry:
    """Append one entry (and make it current), audit it, and publish `recipient.opted_out` on an opt-out.

    `expected_last`: the channel's latest entry id this decision was made on (None: none); another entry written
    meanwhile raises ConsentChanged. `overrides`: the id of the opt-out an evidenced opt-in overrides."""
    recipient_id = recipient.recipient_id
    entry_id = ids.new_id("cns")
    at = clock.rfc3339(clock.now())
    entry = ConsentRecord(
        entry_id=entry_id,
        recipient_id=recipient_id,
        channel=channel,
        status=status,
        source=source,
        at=at,
        overridden_entry_id=overrides,
    )
    evidence_json = evidence.model_dump_json(exclude_none=True) if evidence is not None else None
    stored = repo.set_consent(account_id, entry, evidence_json=evidence_json, expected_last=expected_last)
    if stored is None:
        if expected_last is _ANY or repo.get(account_id, recipient_id) is None:
            raise NotFound("No recipient with this id.")
        raise ConsentChanged("The consent on this channel changed meanwhile: read the ledger and try again.")
    if status == "opted_in":
        repo.remove_tombstone_channel(account_id, recipient.phone_index, channel)
    data: dict[str, Scalar] = {"channel": channel, "status": status, "source": source}
    if overrides is not None:
        data |= {"overrides_opt_out": True, "overridden_entry_id": overrides}
    trail.record(
        account_id=account_id,
        type="consent.changed",
        outcome="success",
        actor=actor,
        meta=meta,
        target={"recipient_id": recipient_id},
        data=data,
    )
    if status == "opted_out":
        events.publish(
            account_id,
            "recipient.opted_out",
            {"recipient_id": recipient_id, "channel": channel, "source": source, "at": at},
            phone_index=recipient.phone_index,
        )
    return _entry(account_id, stored, repo)


def _entry(account_id: str, entry: ConsentRecord, repo: ConsentStore) -> ConsentEntry:
    evidence = None
    if entry.evidence_sealed:
        evidence = Evidence(**json.loads(repo.open_field(account_id, entry, "evidence_sealed")))
    return ConsentEntry(
        id=entry.entry_id,
        recipient_id=entry.recipient_id,
        channel=entry.channel,
        status=entry.status,
        source=entry.source,
        evidence=evidence,
        overrides_opt_out=entry.overridden_entry_id is not None,
        overridden_entry_id=entry.overridden_entry_id,
        at=entry.at,
    )


def record(
    principal: Principal,
    recipient_id: str,
    body: ConsentIn,
    meta: RequestMeta,
    *,
    repo: ConsentStore = store,
    trail: AuditLog = audit,
    events: Events = webhook_events,
) -> ConsentEntry:
    """POST /v1/recipients/{id}/consents: never a platform-only source; an opt-in over an opt-out only over one
    the account recorded, with evidence, flagged; the person's own opt-out only the person lifts (409)."""
    if platform_only(body.source):
        raise ValidationFailed(
            "Only the platform records this source (a person's keyword, a carrier's preference).",
            code="consent_source_reserved",
            errors=[{"pointer": "/source", "message": f"{body.source!r} cannot be written through the API"}],
        )
    account_id = principal.account_id
    recipient = recipients_logic.fetch(account_id, recipient_id, repo=repo)
    expected = recipient.consent_last.get(body.channel)
    latest = repo.latest_consent(account_id, recipient_id, body.channel)
    overrides = None
    opted_out = latest.status == "opted_out" if latest else current(recipient, body.channel) == "opted_out"
    if body.status == "opted_in" and opted_out:
        # No ledger entry behind an opt-out: it was remembered by blind index (a STOP before the number was a
        # recipient, or before an erasure), so nobody can say who made it: the person's, in doubt.
        if latest is None or by_person(latest):
            raise Conflict(
                "The person opted out themselves on this channel; only their own START (or UNSTOP, YES) restores"
                " the consent they had.",
                code="opted_out_by_recipient",
                extra={"opt_out_entry_id": latest.entry_id} if latest else {},
            )
        _check_override_evidence(body.evidence, latest)
        overrides = latest.entry_id
    return append(
        account_id=account_id,
        recipient=recipient,
        channel=body.channel,
        status=body.status,
        source=body.source,
        actor=principal.principal,
        meta=meta,
        evidence=body.evidence,
        # An opt-out always lands; an opt-in only on the entry it was decided on.
        expected_last=expected if body.status == "opted_in" else _ANY,
        overrides=overrides,
        repo=repo,
        trail=trail,
        events=events,
    )


def _check_override_evidence(evidence: Evidence | None, opt_out: ConsentRecord) -> None:
    """An opt-in over an opt-out names what the person agreed to and when: after the opt-out, not in the future."""

    def refuse(pointer: str, message: str) -> ValidationFailed:
        return ValidationFailed(
            "An opt-in over an opt-out needs evidence of the person's new consent.",
            code="consent_override_requires_evidence",
            errors=[{"pointer": pointer, "message": message}],
        )

    if evidence is None:
        raise refuse("/evidence", "required: {text_version, captured_at, ip?, user_agent?}")
    for field in ("text_version", "captured_at"):
        if not (getattr(evidence, field) or "").strip():
            raise refuse(f"/evidence/{field}", "required for an opt-in over an opt-out")
    try:
        captured = clock.parse(str(evidence.captured_at))
    except ValueError:
        raise refuse("/evidence/captured_at", "an RFC 3339 date-time with its offset") from None
    if captured.tzinfo is None:
        raise refuse("/evidence/captured_at", "an RFC 3339 date-time with its offset")
    opted_out_at = clock.parse(opt_out.at)
    if not opted_out_at <= captured <= datetime.fromtimestamp(clock.timestamp() + EVIDENCE_SKEW_S, captured.tzinfo):
        raise refuse("/evidence/captured_at", "after the opt-out it overrides and not in the future")


def ledger(
    principal: Principal, recipient_id: str, *, limit: int, cursor: str | None, repo: ConsentStore = store
) -> ConsentLedger:
    """GET /v1/recipients/{id}/consents: oldest first."""
    recipients_logic.fetch(principal.account_id, recipient_id, repo=repo)
    items, next_cursor = recipients_logic.paged(
        repo.ledger, principal.account_id, recipient_id, limit=limit, cursor=cursor
    )
    return ConsentLedger(data=[_entry(principal.account_id, i, repo) for i in items], next_cursor=next_cursor)


def opt_out_by_phone(account_id: str, e164: str, channel: str, *, source: str) -> str | None:
    """An opt-out for a number (inbound STOP): on its recipient if any, else remembered by blind index."""
    index = recipients_logic.phone_index(account_id, e164)
    recipient_id = store.find_by_phone(account_id, index)
    recipient = store.get(account_id, recipient_id) if recipient_id else None
    if recipient is None:
        store.add_tombstone(account_id, index, [channel], clock.rfc3339(clock.now()))
        return None
    append(
        account_id=account_id,
        recipient=recipient,
        channel=channel,
        status="opted_out",
        source=source,
        actor="system",
        meta=None,
    )
    return recipient.recipient_id


def restore_by_keyword(
    account_id: str,
    recipient_id: str,
    channel: str,
    *,
    repo: ConsentStore = store,
    trail: AuditLog = audit,
    events: Events = webhook_events,
) -> bool:
    """A person's START: restores the opt-in they had before their latest opt-out on the channel, and nothing else
    (no opt-in ever, or none opted out: False, the message is an ordinary one)."""
    for _ in range(3):
        recipient = repo.get(account_id, recipient_id)
        if recipient is None:
            return False
        expected = recipient.consent_last.get(channel)
        latest = repo.latest_consent(account_id, recipient_id, channel)
        if latest is None or latest.status != "opted_out":
            return False
        if repo.latest_consent(account_id, recipient_id, channel, status="opted_in") is None:
            return False
        try:
            append(
                account_id=account_id,
                recipient=recipient,
                channel=channel,
                status="opted_in",
                source="keyword",
                actor="system",
                meta=None,
                expected_last=expected,
                repo=repo,
                trail=trail,
                events=events,
            )
        except ConsentChanged:
            continue  # another entry came first: decide again on the new latest
        return True
    raise ServiceUnavailable("The consent on this channel kept changing; the carrier's retry decides again.")

"""The consent ledger: append-only entries per recipient and channel; the latest entry is the current state."""

from __future__ import annotations

import json
from typing import Any

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.crypto import envelope
from switchboard.dal import messaging as table
from switchboard.dal import recipients as store
from switchboard.logic import audit, notify
from switchboard.logic import recipients as recipients_logic
from switchboard.models.errors import NotFound
from switchboard.models.recipients import ConsentEntry, ConsentIn, ConsentLedger, Evidence
from switchboard.models.request import RequestMeta


def current(recipient: dict[str, Any], channel: str) -> str | None:
    """The recipient's consent on a channel (its latest ledger entry), None when never recorded."""
    status = (recipient.get("consent") or {}).get(channel)
    return str(status) if status else None


def allows_send(recipient: dict[str, Any] | None, channel: str) -> bool:
    """Only an opt-in on exactly this channel allows a business-initiated send (R62)."""
    return recipient is not None and current(recipient, channel) == "opted_in"


def append(
    *,
    account_id: str,
    recipient: dict[str, Any],
    channel: str,
    status: str,
    source: str,
    actor: str,
    meta: RequestMeta | None,
    evidence: Evidence | None = None,
) -> ConsentEntry:
    """Append one entry (and make it current), audit it, and publish `recipient.opted_out` on an opt-out."""
    recipient_id = recipient["recipient_id"]
    entry_id = ids.new_id("cns")
    at = clock.rfc3339(clock.now())
    pk, sk = table.account_pk(account_id), store.consent_sk(recipient_id, entry_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "entry_id": entry_id,
        "recipient_id": recipient_id,
        "channel": channel,
        "status": status,
        "source": source,
        "at": at,
    }
    if evidence is not None:
        item["evidence_sealed"] = envelope.seal(
            account_id,
            evidence.model_dump_json(exclude_none=True),
            table=table.TABLE,
            item_key=table.item_key(pk, sk),
            field="evidence_sealed",
        )
    if not store.set_consent(account_id, item):
        raise NotFound("No recipient with this id.")
    if status == "opted_in":
        store.remove_tombstone_channel(account_id, recipient["phone_index"], channel)
    audit.record(
        account_id=account_id,
        type="consent.changed",
        outcome="success",
        actor=actor,
        meta=meta,
        target={"recipient_id": recipient_id},
        data={"channel": channel, "status": status, "source": source},
    )
    if status == "opted_out":
        notify.publish(
            account_id,
            "recipient.opted_out",
            {"recipient_id": recipient_id, "channel": channel, "source": source, "at": at},
        )
    return _entry(account_id, item)


def _entry(account_id: str, item: dict[str, Any]) -> ConsentEntry:
    evidence = None
    if item.get("evidence_sealed"):
        raw = envelope.open_sealed(
            account_id,
            item["evidence_sealed"],
            table=table.TABLE,
            item_key=table.item_key(item["pk"], item["sk"]),
            field="evidence_sealed",
        )
        evidence = Evidence(**json.loads(raw))
    return ConsentEntry(
        id=item["entry_id"],
        recipient_id=item["recipient_id"],
        channel=item["channel"],
        status=item["status"],
        source=item["source"],
        evidence=evidence,
        at=item["at"],
    )


def record(principal: Principal, recipient_id: str, body: ConsentIn, meta: RequestMeta) -> ConsentEntry:
    """POST /v1/recipients/{id}/consents."""
    recipient = recipients_logic.fetch(principal.account_id, recipient_id)
    return append(
        account_id=principal.account_id,
        recipient=recipient,
        channel=body.channel,
        status=body.status,
        source=body.source,
        actor=principal.principal,
        meta=meta,
        evidence=body.evidence,
    )


def ledger(principal: Principal, recipient_id: str, *, limit: str | None, cursor: str | None) -> ConsentLedger:
    """GET /v1/recipients/{id}/consents: oldest first."""
    recipients_logic.fetch(principal.account_id, recipient_id)
    items, next_cursor = recipients_logic.paged(
        store.ledger, principal.account_id, recipient_id, limit=recipients_logic.page_size(limit), cursor=cursor
    )
    return ConsentLedger(data=[_entry(principal.account_id, i) for i in items], next_cursor=next_cursor)


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
    return str(recipient["recipient_id"])

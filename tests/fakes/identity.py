"""In-memory recipients (consent ledger), audit trail and event bus: what logic.consent receives as Protocols.

tests/integration/test_consent_store_contract.py runs the same scenarios on InMemoryRecipients and on
switchboard.dal.recipients under moto, so a logic test on the fake proves what it would prove on DynamoDB.
"""

from __future__ import annotations

import copy
from typing import Any

from switchboard.dal import recipients as recipients_dal
from switchboard.logic import audit
from switchboard.models.audit import AuditEvent, Outcome, Scalar
from switchboard.models.request import RequestMeta


class SealedElsewhere(Exception):
    """A sealed value opened with another item's (or field's) associated data."""


class InMemoryRecipients:
    """Recipients and their ledgers kept in dicts, with the dal's preconditions (one transaction per entry).

    Sealing is a reversible tag that still binds a value to its item and field, so a value opened with the wrong
    associated data fails here as it fails under AES-GCM.
    """

    def __init__(self) -> None:
        self.recipients: dict[tuple[str, str], dict[str, Any]] = {}
        self.entries: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (account, recipient) → oldest first
        self.tombstones: dict[tuple[str, str], set[str]] = {}

    # what tests arrange
    def add(self, account_id: str, recipient_id: str, *, phone_index: str = "idx", **fields: Any) -> dict[str, Any]:
        """A stored recipient (no consent yet)."""
        item = {"recipient_id": recipient_id, "phone_index": phone_index, "consent": {}, **fields}
        self.recipients[(account_id, recipient_id)] = item
        return copy.deepcopy(item)

    @staticmethod
    def _tag(account_id: str, entry_id: str, field: str) -> str:
        return f"sealed:{account_id}:{entry_id}:{field}:"

    # ConsentStore
    def get(self, account_id: str, recipient_id: str) -> dict[str, Any] | None:
        item = self.recipients.get((account_id, recipient_id))
        return None if item is None or recipients_dal.erasing(item) else copy.deepcopy(item)

    def consent_last_attr(self, channel: str) -> str:
        return recipients_dal.consent_last_attr(channel)

    def latest_consent(
        self, account_id: str, recipient_id: str, channel: str, *, status: str | None = None
    ) -> dict[str, Any] | None:
        for entry in reversed(self.entries.get((account_id, recipient_id), [])):
            if entry["channel"] == channel and (status is None or entry["status"] == status):
                found: dict[str, Any] = copy.deepcopy(entry)
                return found
        return None

    def new_consent_entry(
        self,
        account_id: str,
        *,
        entry_id: str,
        recipient_id: str,
        channel: str,
        status: str,
        source: str,
        at: str,
        overrides: str | None = None,
        evidence_json: str | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "entry_id": entry_id,
            "recipient_id": recipient_id,
            "channel": channel,
            "status": status,
            "source": source,
            "at": at,
        }
        if overrides is not None:
            item["overrides_opt_out"] = True
            item["overridden_entry_id"] = overrides
        if evidence_json is not None:
            item["evidence_sealed"] = self._tag(account_id, entry_id, "evidence_sealed") + evidence_json
        return item

    def set_consent(self, account_id: str, entry: dict[str, Any], *, expected_last: str | bool | None = True) -> bool:
        recipient = self.recipients.get((account_id, entry["recipient_id"]))
        if recipient is None or recipients_dal.erasing(recipient):
            return False
        last = recipient.get(self.consent_last_attr(entry["channel"]))
        if expected_last is None and last is not None:
            return False
        if isinstance(expected_last, str) and last != expected_last:
            return False
        self.entries.setdefault((account_id, entry["recipient_id"]), []).append(copy.deepcopy(entry))
        recipient.setdefault("consent", {})[entry["channel"]] = entry["status"]
        recipient[self.consent_last_attr(entry["channel"])] = entry["entry_id"]
        return True

    def open_field(self, account_id: str, item: dict[str, Any], field: str) -> str:
        tag = self._tag(account_id, item["entry_id"], field)
        if not str(item[field]).startswith(tag):
            raise SealedElsewhere(field)
        return str(item[field]).removeprefix(tag)

    def remove_tombstone_channel(self, account_id: str, phone_index: str, channel: str) -> None:
        self.tombstones.get((account_id, phone_index), set()).discard(channel)

    def ledger(
        self, account_id: str, recipient_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        entries = self.entries.get((account_id, recipient_id), [])
        start = int(cursor) if cursor else 0
        page = entries[start : start + limit]
        more = start + limit < len(entries)
        return copy.deepcopy(page), str(start + limit) if more else None


class RecordingAudit:
    """The audit trail as a list: every event logic records, in order."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(
        self,
        *,
        account_id: str,
        type: str,
        outcome: Outcome,
        actor: str,
        meta: RequestMeta | None = None,
        target: dict[str, str] | None = None,
        data: dict[str, Scalar] | None = None,
    ) -> AuditEvent:
        event = audit.new_event(
            account_id=account_id, type=type, outcome=outcome, actor=actor, meta=meta, target=target, data=data
        )
        self.events.append(event)
        return event


class RecordingEvents:
    """The webhook event bus as a list of (account, type, data)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(
        self, account_id: str, event_type: str, data: dict[str, Any], *, message: dict[str, Any] | None = None
    ) -> int:
        self.published.append((account_id, event_type, dict(data)))
        return 1

"""An account's event log (Messaging table): each event sealed exactly as its webhook deliveries carry it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk
from switchboard.dal.messages import EVENT_SK_PREFIX, by_phone_pk
from switchboard.dal.recipients import ERASING_ATTR, erasing_phone_sk, recipient_sk

EVENT_PREFIX = EVENT_SK_PREFIX
# Past every event id: ids are `evt_` and Crockford base32 (digits and upper-case letters), all below `~`.
_END = f"{EVENT_PREFIX}evt_~"


def event_sk(event_id: str) -> str:
    """The sort key of an event under its account; gsi3 uses it too (outside the conversation timeline's range)."""
    return f"{EVENT_PREFIX}{event_id}"


@dataclass(frozen=True)
class StoredEvent:
    """One logged event: ids, type and time in the clear; the event JSON sealed (as on the Callbacks queue)."""

    event_id: str
    event_type: str
    created_at: int  # epoch seconds
    sealed: str  # "" for an event erased with its person (a tombstone: its place in the log, nothing of it)


def _record(item: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=str(item["event_id"]),
        event_type=str(item["event_type"]),
        created_at=int(item["created_at"]),
        sealed=str(item.get("sealed_event") or ""),
    )


def put(
    account_id: str,
    event: StoredEvent,
    *,
    expires_at: int,
    recipient_id: str | None = None,
    phone_index: str | None = None,
) -> None:
    """Log an event; indexed on gsi3 under the number it concerns (when known), so that person's erasure finds it.

    Written, then checked: an event about a person whose erasure has begun is emptied again at once. Its erasure
    reads the number's items only after marking them, so an event still there when the check saw no mark is found
    by that erasure; one written later (an inbound message or a receipt racing the erasure) would outlive it.
    Emptied with an UpdateItem (what every publisher may do on Messaging), not deleted: the sealed event, the
    number's index and the recipient go; the id stays as a tombstone that keeps a listener's cursor valid."""
    sk = event_sk(event.event_id)
    item: dict[str, Any] = {
        "pk": account_pk(account_id),
        "sk": sk,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "created_at": event.created_at,
        "sealed_event": event.sealed,
        "expires_at": expires_at,
        "recipient_id": recipient_id,
    }
    if phone_index:
        item |= {"gsi3pk": by_phone_pk(account_id, phone_index), "gsi3sk": sk}
    table.put(item)
    if _being_erased(account_id, recipient_id, phone_index):
        table.update(
            account_pk(account_id),
            sk,
            expression="REMOVE sealed_event, gsi3pk, gsi3sk, recipient_id",
            returns="NONE",
        )


def _being_erased(account_id: str, recipient_id: str | None, phone_index: str | None) -> bool:
    """Whether the person an event concerns is being (or was) erased: its recipient is a marker or gone; or, for an
    event linked to no recipient, its number's previous recipient is being erased (erasure takes unlinked items)."""
    pk = account_pk(account_id)
    if recipient_id:
        recipient = table.get(pk, recipient_sk(recipient_id))
        return recipient is None or ERASING_ATTR in recipient
    if phone_index:
        return table.get(pk, erasing_phone_sk(phone_index)) is not None
    return False


def get(account_id: str, event_id: str) -> StoredEvent | None:
    """One event of the account still in its log, or None (another account's, expired, erased or never)."""
    item = table.get(account_pk(account_id), event_sk(event_id))
    return _record(item) if item is not None else None


def newest(account_id: str) -> str | None:
    """The id of the account's newest logged event, or None when its log is empty."""
    items, _ = table.query_page(
        pk_value=account_pk(account_id), sk_between=(EVENT_PREFIX, _END), limit=1, forward=False
    )
    return str(items[0]["event_id"]) if items else None


def after(account_id: str, event_id: str | None, *, before: str, limit: int) -> list[StoredEvent]:
    """Up to `limit` events with ids strictly between `event_id` (None: the oldest kept) and `before`, oldest first."""
    if event_id is not None and event_id >= before:
        return []  # DynamoDB refuses a BETWEEN whose low end is above its high end
    low = event_sk(event_id) if event_id else EVENT_PREFIX
    # BETWEEN is inclusive at both ends: one more item covers the cursor's own event, which is dropped.
    items, _ = table.query_page(pk_value=account_pk(account_id), sk_between=(low, event_sk(before)), limit=limit + 1)
    found = [_record(i) for i in items if i["sk"] not in (low, event_sk(before))]
    return found[:limit]


def delete(account_id: str, event_id: str) -> None:
    """Remove one event from the log (a recipient's erasure)."""
    table.delete(account_pk(account_id), event_sk(event_id))

"""Recipients: create (sealed, found by blind index), read, list, erase (an opt-out tombstone outlives it)."""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.catalog import CHANNELS
from switchboard.crypto import envelope
from switchboard.dal import recipients as store
from switchboard.dal.cursors import InvalidCursor
from switchboard.logic import erasure
from switchboard.models.errors import BadRequest, Conflict, NotFound
from switchboard.models.permissions import masks_phone_numbers
from switchboard.models.recipients import (
    Consent,
    RecipientIn,
    RecipientOut,
    RecipientPage,
    mask_phone,
    parse_phone,
)
from switchboard.text import repaired

PHONE_PURPOSE = "phone"


def phone_index(account_id: str, e164: str) -> str:
    """The per-account blind index of a number: the only form in which numbers are looked up."""
    return envelope.blind_index(account_id, e164, purpose=PHONE_PURPOSE)


def _open(account_id: str, item: dict[str, Any], field: str) -> str:
    return store.open_field(account_id, item, field)


def open_phone(account_id: str, item: dict[str, Any]) -> str:
    """A recipient's number in clear (for sending; never logged)."""
    return _open(account_id, item, "phone_sealed")


def create(principal: Principal, body: RecipientIn) -> RecipientOut:
    """201 with the new recipient; 409 recipient_exists (with existing_id) when the number is already one."""
    account_id = principal.account_id
    phone = parse_phone(body.phone)
    index = phone_index(account_id, phone.e164)
    # A number that said STOP before (then was erased, or was never a recipient) starts opted out there.
    remembered = store.tombstone(account_id, index)
    item = store.new_recipient(
        account_id,
        ids.new_id("rcp"),
        e164=phone.e164,
        phone_index=index,
        country=phone.country,
        consent=dict.fromkeys(remembered, "opted_out"),
        created_at=clock.rfc3339(clock.now()),
        name=body.name,
        attributes_json=json.dumps(body.attributes) if body.attributes else None,
    )
    existing = store.create(account_id, item, index)
    if existing is not None:
        raise Conflict(
            "A recipient with this phone number exists in this account.",
            code="recipient_exists",
            extra={"existing_id": existing},
        )
    return render(principal, item)


def _attributes(account_id: str, item: dict[str, Any]) -> dict[str, Any]:
    if not item.get("attributes_sealed"):
        return {}
    # Sealed as JSON text whose `\u` escapes kept any lone surrogate sent before the API refused them (finding 8):
    # such a record reads with U+FFFD in its place, never as a 500.
    attributes: dict[str, Any] = repaired(json.loads(_open(account_id, item, "attributes_sealed")))
    return attributes


def render(principal: Principal, item: dict[str, Any]) -> RecipientOut:
    """The API shape of a stored recipient; viewers see the number masked."""
    account_id = principal.account_id
    phone = open_phone(account_id, item)
    consent = item.get("consent") or {}
    return RecipientOut(
        id=item["recipient_id"],
        phone=mask_phone(phone) if masks_phone_numbers(principal.role) else phone,
        name=repaired(_open(account_id, item, "name_sealed")) if item.get("name_sealed") else None,
        country=item.get("country", ""),
        attributes=_attributes(account_id, item),
        consent=Consent(**{c: consent.get(c) for c in CHANNELS}),
        created_at=item["created_at"],
    )


class RecipientReader(Protocol):
    """Reads recipients: `dal.recipients`, or an in-memory fake."""

    def get(self, account_id: str, recipient_id: str) -> dict[str, Any] | None: ...


def fetch(account_id: str, recipient_id: str, *, repo: RecipientReader = store) -> dict[str, Any]:
    """The stored recipient, or 404 (other accounts' ids look exactly like missing ones)."""
    item = repo.get(account_id, recipient_id) if recipient_id.startswith("rcp_") else None
    if item is None:
        raise NotFound("No recipient with this id.")
    return item


def read(principal: Principal, recipient_id: str) -> RecipientOut:
    """GET /v1/recipients/{id}."""
    return render(principal, fetch(principal.account_id, recipient_id))


def paged(fetch_page: Any, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Run a dal page query, mapping a foreign or broken cursor to 400 invalid_cursor."""
    try:
        result: tuple[list[dict[str, Any]], str | None] = fetch_page(*args, **kwargs)
    except InvalidCursor:
        raise BadRequest("This cursor does not belong to this list.", code="invalid_cursor") from None
    return result


def list_page(principal: Principal, *, limit: int, cursor: str | None) -> RecipientPage:
    """GET /v1/recipients."""
    items, next_cursor = paged(store.page, principal.account_id, limit=limit, cursor=cursor)
    return RecipientPage(data=[render(principal, i) for i in items], next_cursor=next_cursor)


def erase(principal: Principal, recipient_id: str, time_left: erasure.TimeLeft | None = None) -> bool:
    """DELETE /v1/recipients/{id}: the recipient reads as gone at once; True when its erasure finished within
    `time_left`, False when the erasure job finishes it. Repeating it resumes an unfinished erasure."""
    account_id = principal.account_id
    item = store.get_any(account_id, recipient_id) if recipient_id.startswith("rcp_") else None
    if item is None:
        raise NotFound("No recipient with this id.")
    if not store.erasing(item):
        erasure.begin(account_id, item)  # False: a concurrent erasure marked it first; either way it is marked now
        item = store.get_any(account_id, recipient_id)
        if item is None:  # that concurrent erasure has finished it already
            return True
    try:
        erasure.resume(account_id, item, time_left or (lambda: math.inf))
    except erasure.Stopped:
        return False
    return True

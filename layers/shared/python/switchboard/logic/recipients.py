"""Recipients: create (sealed, found by blind index), read, list, erase (an opt-out tombstone outlives it)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.catalog import CHANNELS
from switchboard.crypto import envelope
from switchboard.dal import recipients as store
from switchboard.dal.cursors import InvalidCursor
from switchboard.dal.recipients import Recipient
from switchboard.logic import erasure
from switchboard.models import paging
from switchboard.models.errors import Conflict, NotFound
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
_Row = TypeVar("_Row")


def phone_index(account_id: str, e164: str) -> str:
    """The per-account blind index of a number: the only form in which numbers are looked up."""
    return envelope.blind_index(account_id, e164, purpose=PHONE_PURPOSE)


def _open(account_id: str, recipient: Recipient, field: str) -> str:
    return store.open_field(account_id, recipient, field)


def open_phone(account_id: str, recipient: Recipient) -> str:
    """A recipient's number in clear (for sending; never logged)."""
    return _open(account_id, recipient, "phone_sealed")


def create(principal: Principal, body: RecipientIn) -> RecipientOut:
    """201 with the new recipient; 409 recipient_exists (with existing_id) when the number is already one."""
    account_id = principal.account_id
    phone = parse_phone(body.phone)
    index = phone_index(account_id, phone.e164)
    # A number that said STOP before (then was erased, or was never a recipient) starts opted out there.
    remembered = store.tombstone(account_id, index)
    recipient = store.new_recipient(
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
    existing = store.create(account_id, recipient, index)
    if existing is not None:
        raise Conflict(
            "A recipient with this phone number exists in this account.",
            code="recipient_exists",
            extra={"existing_id": existing},
        )
    return render(principal, recipient)


def on_first_contact(account_id: str, e164: str, index: str, country: str) -> str | None:
    """The recipient of a number that wrote to the account without being one: made now, with no consent (writing is
    no opt-in; a remembered STOP stays an opt-out). Race-safe: two first messages make one recipient. None while the
    number's previous recipient is being erased (no recipient is made for it until that ends)."""
    remembered = store.tombstone(account_id, index)
    recipient = store.new_recipient(
        account_id,
        ids.new_id("rcp"),
        e164=e164,
        phone_index=index,
        country=country,
        consent=dict.fromkeys(remembered, "opted_out"),
        created_at=clock.rfc3339(clock.now()),
    )
    return store.create_on_contact(account_id, recipient, index)


def _attributes(account_id: str, recipient: Recipient) -> dict[str, Any]:
    if not recipient.attributes_sealed:
        return {}
    # Sealed as JSON text whose `\u` escapes kept any lone surrogate sent before the API refused them (finding 8):
    # such a record reads with U+FFFD in its place, never as a 500.
    attributes: dict[str, Any] = repaired(json.loads(_open(account_id, recipient, "attributes_sealed")))
    return attributes


def render(principal: Principal, recipient: Recipient) -> RecipientOut:
    """The API shape of a stored recipient; viewers see the number masked."""
    account_id = principal.account_id
    phone = open_phone(account_id, recipient)
    return RecipientOut(
        id=recipient.recipient_id,
        phone=mask_phone(phone) if masks_phone_numbers(principal.role) else phone,
        name=repaired(_open(account_id, recipient, "name_sealed")) if recipient.name_sealed else None,
        country=recipient.country,
        attributes=_attributes(account_id, recipient),
        consent=Consent(**{c: recipient.consent.get(c) for c in CHANNELS}),
        created_at=recipient.created_at,
    )


class RecipientReader(Protocol):
    """Reads recipients: `dal.recipients`, or an in-memory fake."""

    def get(self, account_id: str, recipient_id: str) -> Recipient | None: ...


def fetch(account_id: str, recipient_id: str, *, repo: RecipientReader = store) -> Recipient:
    """The stored recipient, or 404 (other accounts' ids look exactly like missing ones)."""
    recipient = repo.get(account_id, recipient_id) if recipient_id.startswith("rcp_") else None
    if recipient is None:
        raise NotFound("No recipient with this id.")
    return recipient


def read(principal: Principal, recipient_id: str) -> RecipientOut:
    """GET /v1/recipients/{id}."""
    return render(principal, fetch(principal.account_id, recipient_id))


def paged(
    fetch_page: Callable[..., tuple[list[_Row], str | None]], *args: Any, **kwargs: Any
) -> tuple[list[_Row], str | None]:
    """Run a dal page query, mapping a foreign or broken cursor to 400 invalid_cursor."""
    try:
        result = fetch_page(*args, **kwargs)
    except InvalidCursor:
        raise paging.bad_cursor() from None
    return result


def list_page(principal: Principal, *, limit: int, cursor: str | None) -> RecipientPage:
    """GET /v1/recipients."""
    recipients, next_cursor = paged(store.page, principal.account_id, limit=limit, cursor=cursor)
    return RecipientPage(data=[render(principal, r) for r in recipients], next_cursor=next_cursor)


def erase(principal: Principal, recipient_id: str, time_left: erasure.TimeLeft | None = None) -> bool:
    """DELETE /v1/recipients/{id}: the recipient reads as gone at once; True when its erasure finished within
    `time_left`, False when the erasure job finishes it. Repeating it resumes an unfinished erasure."""
    account_id = principal.account_id
    recipient = store.get_any(account_id, recipient_id) if recipient_id.startswith("rcp_") else None
    if recipient is None:
        raise NotFound("No recipient with this id.")
    if not recipient.erasing:
        erasure.begin(account_id, recipient)  # False: a concurrent erasure marked it first; either way it is marked
        recipient = store.get_any(account_id, recipient_id)
        if recipient is None:  # that concurrent erasure has finished it already
            return True
    try:
        erasure.resume(account_id, recipient, time_left or (lambda: math.inf))
    except erasure.Stopped:
        return False
    return True

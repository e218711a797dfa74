"""Recipients, phone lookups by blind index, opt-out tombstones, the consent ledger and lists (Messaging table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from switchboard.crypto import envelope
from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_of, account_pk

ERASING_ATTR = "erasing_since"  # epoch seconds the erasure began; the item is then only the erasure's marker
ERASING_PARTITION = "ERASING"  # gsi2: erasure markers across accounts (the erasure job reads it)
# What a marker loses at once: the recipient's own personal data (consent stays until the end: the tombstone is
# written from it, again on every resumption).
PERSONAL_FIELDS = ("phone_sealed", "name_sealed", "attributes_sealed", "country")
CONSENT_LAST_PREFIX = "consent_last_"


def recipient_sk(recipient_id: str) -> str:
    """Sort key of a recipient."""
    return f"RCP#{recipient_id}"


def phone_sk(phone_index: str) -> str:
    """Sort key of the one-recipient-per-number lookup."""
    return f"PHONE#{phone_index}"


def tombstone_sk(phone_index: str) -> str:
    """Sort key of an opt-out that outlives an erased (or never created) recipient."""
    return f"OPTOUT#{phone_index}"


def erasing_phone_sk(phone_index: str) -> str:
    """Sort key of the note that a number's recipient is being erased: no recipient is made for it meanwhile."""
    return f"ERASINGPHONE#{phone_index}"


def consent_sk(recipient_id: str, entry_id: str) -> str:
    """Sort key of a ledger entry: ids are time-ordered, so the ledger reads oldest first."""
    return f"CONSENT#{recipient_id}#{entry_id}"


def window_sk(channel: str, phone_index: str) -> str:
    """Sort key of a number's last inbound message on a channel (WhatsApp's 24-hour window), by blind index."""
    return f"LASTIN#{channel}#{phone_index}"


def list_sk(list_id: str) -> str:
    """Sort key of a list."""
    return f"LIST#{list_id}"


def member_sk(list_id: str, recipient_id: str) -> str:
    """Sort key of a list membership."""
    return f"LISTMEM#{list_id}#{recipient_id}"


@dataclass(frozen=True)
class Recipient:
    """A stored recipient (pk = ACCT#<id>, sk = RCP#<recipient_id>), or its erasure's marker once `erasing_since`
    is set (then without its personal fields). The number, name and attributes stay sealed to it (`open_field`);
    `consent` is each channel's latest ledger status and `consent_last` that entry's id (a writer's precondition)."""

    account_id: str
    recipient_id: str
    phone_index: str
    created_at: str = ""
    country: str = ""
    consent: Mapping[str, str] = field(default_factory=dict)
    consent_last: Mapping[str, str] = field(default_factory=dict)
    phone_sealed: str | None = None
    name_sealed: str | None = None
    attributes_sealed: str | None = None
    erasing_since: int | None = None

    @property
    def erasing(self) -> bool:
        """Its erasure has begun: gone for every reader, kept only as the erasure's marker."""
        return self.erasing_since is not None

    def sealed(self) -> dict[str, str | None]:
        """Its sealed personal fields by attribute name (None: not given, or erased)."""
        return {
            "phone_sealed": self.phone_sealed,
            "name_sealed": self.name_sealed,
            "attributes_sealed": self.attributes_sealed,
        }

    def to_item(self) -> dict[str, Any]:
        """The stored item."""
        item: dict[str, Any] = {
            "pk": account_pk(self.account_id),
            "sk": recipient_sk(self.recipient_id),
            "recipient_id": self.recipient_id,
            "phone_index": self.phone_index,
            "country": self.country,
            "consent": dict(self.consent),
            "created_at": self.created_at,
        }
        item |= {consent_last_attr(channel): entry_id for channel, entry_id in self.consent_last.items()}
        item |= {name: value for name, value in self.sealed().items() if value is not None}
        if self.erasing_since is not None:
            item[ERASING_ATTR] = self.erasing_since
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Recipient:
        """A stored item (a recipient or its erasure's marker) as a record."""
        erasing_since = item.get(ERASING_ATTR)
        return cls(
            account_id=account_of(str(item["pk"])),
            recipient_id=str(item["recipient_id"]),
            phone_index=str(item.get("phone_index", "")),
            created_at=str(item.get("created_at", "")),
            country=str(item.get("country", "")),
            consent={str(c): str(s) for c, s in (item.get("consent") or {}).items()},
            consent_last={
                name.removeprefix(CONSENT_LAST_PREFIX): str(value)
                for name, value in item.items()
                if name.startswith(CONSENT_LAST_PREFIX)
            },
            phone_sealed=item.get("phone_sealed"),
            name_sealed=item.get("name_sealed"),
            attributes_sealed=item.get("attributes_sealed"),
            erasing_since=None if erasing_since is None else int(erasing_since),
        )


@dataclass(frozen=True)
class ConsentRecord:
    """One consent ledger entry (pk = ACCT#<id>, sk = CONSENT#<recipient_id>#<entry_id>); its evidence stays sealed
    to it (`open_field`). `overridden_entry_id`: the opt-out an evidenced opt-in overrides."""

    entry_id: str
    recipient_id: str
    channel: str
    status: str
    source: str
    at: str
    overridden_entry_id: str | None = None
    evidence_sealed: str | None = None

    def to_item(self, account_id: str) -> dict[str, Any]:
        """The stored item."""
        item = {name: value for name, value in asdict(self).items() if value is not None}
        if self.overridden_entry_id is not None:
            item["overrides_opt_out"] = True
        return {"pk": account_pk(account_id), "sk": consent_sk(self.recipient_id, self.entry_id), **item}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ConsentRecord:
        """A stored item as a record."""
        fields: dict[str, Any] = {name: item.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)


def _seal(account_id: str, sk: str, field: str, value: str) -> str:
    """Sealed to this item (its key) and attribute: a sealed value copied to another item or field does not open."""
    item_key = table.item_key(account_pk(account_id), sk)
    return envelope.seal(account_id, value, table=table.TABLE, item_key=item_key, field=field)


def open_field(account_id: str, item: Recipient | ConsentRecord, field: str) -> str:
    """A sealed attribute of a stored recipient or ledger entry, in clear (never logged); KeyError when it has none."""
    if isinstance(item, Recipient):
        sk, value = recipient_sk(item.recipient_id), item.sealed()[field]
    else:
        sk, value = consent_sk(item.recipient_id, item.entry_id), {"evidence_sealed": item.evidence_sealed}[field]
    item_key = table.item_key(account_pk(account_id), sk)
    if value is None:
        raise KeyError(field)
    return envelope.open_sealed(account_id, value, table=table.TABLE, item_key=item_key, field=field)


def new_recipient(
    account_id: str,
    recipient_id: str,
    *,
    e164: str,
    phone_index: str,
    country: str,
    consent: dict[str, str],
    created_at: str,
    name: str | None = None,
    attributes_json: str | None = None,
) -> Recipient:
    """A recipient ready for `create`: the number, name and attributes sealed, the number found by blind index."""
    sk = recipient_sk(recipient_id)
    return Recipient(
        account_id=account_id,
        recipient_id=recipient_id,
        phone_index=phone_index,
        created_at=created_at,
        country=country,
        consent=dict(consent),
        phone_sealed=_seal(account_id, sk, "phone_sealed", e164),
        name_sealed=None if name is None else _seal(account_id, sk, "name_sealed", name),
        attributes_sealed=None
        if attributes_json is None
        else _seal(account_id, sk, "attributes_sealed", attributes_json),
    )


def create(account_id: str, recipient: Recipient, phone_index: str) -> str | None:
    """Store a new recipient with its phone lookup; None, or the existing recipient's id when the number is taken."""
    pk = account_pk(account_id)
    item = recipient.to_item()
    lookup = {"pk": pk, "sk": phone_sk(phone_index), "recipient_id": recipient.recipient_id}
    done = table.transact(
        [
            {"Put": {"Item": table.dump(lookup), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"Item": table.dump(item), "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
    )
    if done:
        return None
    existing = table.get(pk, phone_sk(phone_index))
    return str(existing["recipient_id"]) if existing else ""


def create_on_contact(account_id: str, recipient: Recipient, phone_index: str) -> str | None:
    """Store a recipient for a number that wrote first: its id; the existing recipient's id when another message
    made one first (one recipient per number); None while that number's recipient is being erased."""
    pk = account_pk(account_id)
    lookup = {"pk": pk, "sk": phone_sk(phone_index), "recipient_id": recipient.recipient_id}
    done = table.transact(
        [
            {"Put": {"Item": table.dump(lookup), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"Item": table.dump(recipient.to_item()), "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "ConditionCheck": {
                    "Key": table.key(pk, erasing_phone_sk(phone_index)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    if done:
        return recipient.recipient_id
    existing = table.get(pk, phone_sk(phone_index))
    return str(existing["recipient_id"]) if existing else None


def get(account_id: str, recipient_id: str) -> Recipient | None:
    """A recipient of the account, or None (also while it is being erased)."""
    recipient = get_any(account_id, recipient_id)
    return None if recipient is None or recipient.erasing else recipient


def get_any(account_id: str, recipient_id: str) -> Recipient | None:
    """A recipient of the account or its erasure marker, or None."""
    item = table.get(account_pk(account_id), recipient_sk(recipient_id))
    return None if item is None else Recipient.from_item(item)


def get_many(account_id: str, recipient_ids: Sequence[str]) -> dict[str, Recipient]:
    """Recipients by id (BatchGetItem, 100 per call); ids of other accounts (or being erased) are not found."""
    pk = account_pk(account_id)
    found = [Recipient.from_item(i) for i in table.batch_get([(pk, recipient_sk(r)) for r in recipient_ids]).values()]
    return {r.recipient_id: r for r in found if not r.erasing}


def not_live(account_id: str, recipient_ids: Sequence[str]) -> set[str]:
    """Which of these recipients are being erased or gone (BatchGetItem, 100 per call)."""
    unique = sorted(set(recipient_ids))
    return set(unique) - set(get_many(account_id, unique)) if unique else set()


def find_by_phone(account_id: str, phone_index: str) -> str | None:
    """The id of the account's recipient with this number (by blind index), or None."""
    lookup = table.get(account_pk(account_id), phone_sk(phone_index))
    return str(lookup["recipient_id"]) if lookup else None


def page(account_id: str, *, limit: int, cursor: str | None) -> tuple[list[Recipient], str | None]:
    """One page of the account's recipients, oldest first."""
    items, next_cursor = table.query_page(
        pk_value=account_pk(account_id),
        prefix="RCP#",
        limit=limit,
        cursor=cursor,
        filter_expression="attribute_not_exists(#erasing)",
        filter_names={"#erasing": ERASING_ATTR},
    )
    return [Recipient.from_item(i) for i in items], next_cursor


def consent_last_attr(channel: str) -> str:
    """The recipient attribute holding the id of its latest ledger entry on a channel (a writer's precondition)."""
    return f"{CONSENT_LAST_PREFIX}{channel}"


def set_consent(
    account_id: str,
    entry: ConsentRecord,
    *,
    evidence_json: str | None = None,
    expected_last: str | bool | None = True,
) -> ConsentRecord | None:
    """Append a ledger entry (its evidence sealed to it) and make it the recipient's current state at once: the entry
    as stored, or None if the recipient is gone or, when `expected_last` is given (an entry id, or None for none
    yet), another entry on the channel came first.

    `True` (the default) writes whatever came before: an opt-out never waits for anything."""
    pk = account_pk(account_id)
    if evidence_json is not None:
        sealed = _seal(account_id, consent_sk(entry.recipient_id, entry.entry_id), "evidence_sealed", evidence_json)
        entry = replace(entry, evidence_sealed=sealed)
    condition = "attribute_exists(pk) AND attribute_not_exists(#erasing)"
    names = {"#ch": entry.channel, "#last": consent_last_attr(entry.channel), "#erasing": ERASING_ATTR}
    vals: dict[str, Any] = {":status": entry.status, ":entry": entry.entry_id}
    if expected_last is None:
        condition += " AND attribute_not_exists(#last)"
    elif isinstance(expected_last, str):
        condition += " AND #last = :expected"
        vals[":expected"] = expected_last
    done = table.transact(
        [
            {"Put": {"Item": table.dump(entry.to_item(account_id)), "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "Update": {
                    "Key": table.key(pk, recipient_sk(entry.recipient_id)),
                    "UpdateExpression": "SET consent.#ch = :status, #last = :entry",
                    # Nothing is added to a ledger that its erasure may already have deleted.
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": table.values(vals),
                }
            },
        ]
    )
    return entry if done else None


def latest_consent(
    account_id: str, recipient_id: str, channel: str, *, status: str | None = None
) -> ConsentRecord | None:
    """The recipient's latest ledger entry on a channel (with `status`, if given), or None: read newest first."""
    expression, names, vals = "#ch = :ch", {"#ch": "channel"}, {":ch": channel}
    if status is not None:
        expression += " AND #st = :st"
        names["#st"], vals[":st"] = "status", status
    cursor: str | None = None
    while True:
        items, cursor = table.query_page(
            pk_value=account_pk(account_id),
            prefix=f"CONSENT#{recipient_id}#",
            forward=False,
            cursor=cursor,
            filter_expression=expression,
            filter_names=names,
            filter_values=vals,
        )
        if items:
            return ConsentRecord.from_item(items[0])
        if cursor is None:
            return None


def ledger(
    account_id: str, recipient_id: str, *, limit: int, cursor: str | None
) -> tuple[list[ConsentRecord], str | None]:
    """One page of a recipient's ledger, oldest first."""
    items, next_cursor = table.query_page(
        pk_value=account_pk(account_id), prefix=f"CONSENT#{recipient_id}#", limit=limit, cursor=cursor
    )
    return [ConsentRecord.from_item(i) for i in items], next_cursor


def tombstone(account_id: str, phone_index: str) -> list[str]:
    """Channels a number opted out of while no recipient held it (STOP from a stranger, or before an erasure)."""
    item = table.get(account_pk(account_id), tombstone_sk(phone_index))
    return list(item.get("channels", [])) if item else []


def add_tombstone(account_id: str, phone_index: str, channels: Sequence[str], at: str) -> None:
    """Remember opt-outs by blind index only (no number, no name): STOP stays honoured if the number comes back."""
    if not channels:
        return
    table.update(
        account_pk(account_id),
        tombstone_sk(phone_index),
        expression="ADD channels :channels SET updated_at = :at",
        vals={":channels": set(channels), ":at": at},
    )


def remove_tombstone_channel(account_id: str, phone_index: str, channel: str) -> None:
    """An explicit opt-in replaces an earlier remembered opt-out on that channel."""
    table.update(
        account_pk(account_id),
        tombstone_sk(phone_index),
        expression="DELETE channels :channels",
        condition="attribute_exists(pk)",
        vals={":channels": {channel}},
    )


def mark_erasing(account_id: str, recipient_id: str, phone_index: str, at: int) -> bool:
    """Begin an erasure in one transaction: the recipient's personal fields go and it becomes the erasure's marker
    (on gsi2, where the erasure job finds it), and its phone lookup goes; False if it is gone or already marked."""
    pk = account_pk(account_id)
    return table.transact(
        [
            {
                "Update": {
                    "Key": table.key(pk, recipient_sk(recipient_id)),
                    "UpdateExpression": f"REMOVE {', '.join(PERSONAL_FIELDS)} "
                    "SET #erasing = :at, gsi2pk = :partition, gsi2sk = :due",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#erasing)",
                    "ExpressionAttributeNames": {"#erasing": ERASING_ATTR},
                    "ExpressionAttributeValues": table.values(
                        {
                            ":at": at,
                            ":partition": ERASING_PARTITION,
                            ":due": erasing_sk(at, account_id, recipient_id),
                        }
                    ),
                }
            },
            {
                "Delete": {
                    "Key": table.key(pk, phone_sk(phone_index)),
                    "ConditionExpression": "attribute_not_exists(pk) OR recipient_id = :rid",
                    "ExpressionAttributeValues": table.values({":rid": recipient_id}),
                }
            },
            # Until the erasure ends, a message from the number makes no new recipient (create_on_contact).
            {
                "Put": {
                    "Item": table.dump(
                        {"pk": pk, "sk": erasing_phone_sk(phone_index), "recipient_id": recipient_id, ERASING_ATTR: at}
                    )
                }
            },
        ]
    )


def erasing_sk(at: int, account_id: str, recipient_id: str) -> str:
    """gsi2 sort key of an erasure marker: oldest first."""
    return f"{at:012d}#{account_id}#{recipient_id}"


def erasures_due(until: int, *, limit: int) -> list[Recipient]:
    """Erasure markers (recipients whose erasure began) begun by `until` (epoch seconds), across accounts, oldest
    first."""
    items, _ = table.query_page(
        pk_value=ERASING_PARTITION, index="gsi2", limit=limit, sk_between=("0", f"{until:012d}~")
    )
    return [Recipient.from_item(item) for item in items]


def erase_ledger(account_id: str, recipient_id: str) -> int:
    """Delete the recipient's consent ledger (a consistent read: no entry can be added once it is marked)."""
    pk = account_pk(account_id)
    return table.batch_delete((pk, e["sk"]) for e in table.query_all(pk_value=pk, prefix=f"CONSENT#{recipient_id}#"))


def erase_memberships(account_id: str, recipient_id: str) -> int:
    """Delete the recipient's list memberships (found on gsi1)."""
    pk = account_pk(account_id)
    found = table.query_all(pk_value=f"{pk}#RCPLISTS#{recipient_id}", prefix="LISTMEM#", index="gsi1")
    return table.batch_delete((pk, m["sk"]) for m in found)


def erase_windows(account_id: str, phone_index: str, channels: Sequence[str]) -> int:
    """Forget when the number last wrote on each channel."""
    pk = account_pk(account_id)
    return table.batch_delete((pk, window_sk(channel, phone_index)) for channel in channels)


def drop_marker(account_id: str, recipient_id: str, phone_index: str) -> None:
    """The erasure's last steps: the number may make a recipient again, then its marker goes (only a marker: a live
    recipient is never deleted here). In this order, so a run that stops between them is resumed by the marker."""
    table.delete(account_pk(account_id), erasing_phone_sk(phone_index))
    table.delete_if(
        account_pk(account_id),
        recipient_sk(recipient_id),
        condition="attribute_exists(#erasing)",
        names={"#erasing": ERASING_ATTR},
    )


@dataclass(frozen=True)
class RecipientList:
    """A stored list (pk = ACCT#<id>, sk = LIST#<list_id>); its members are items of their own."""

    list_id: str
    name: str
    created_at: str

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RecipientList:
        """A stored item as a record."""
        return cls(list_id=str(item["list_id"]), name=str(item["name"]), created_at=str(item["created_at"]))


def create_list(account_id: str, recipient_list: RecipientList) -> None:
    """Store a new list."""
    table.put({"pk": account_pk(account_id), "sk": list_sk(recipient_list.list_id), **asdict(recipient_list)})


def get_list(account_id: str, list_id: str) -> RecipientList | None:
    """A list of the account, or None."""
    item = table.get(account_pk(account_id), list_sk(list_id))
    return None if item is None else RecipientList.from_item(item)


def add_members(account_id: str, list_id: str, recipient_ids: Sequence[str]) -> int:
    """Memberships, 25 per BatchWriteItem (writing one twice is harmless)."""
    pk = account_pk(account_id)
    return table.batch_put(
        {
            "pk": pk,
            "sk": member_sk(list_id, r),
            "recipient_id": r,
            "list_id": list_id,
            # The recipient's memberships, so an erasure finds them without scanning every list.
            "gsi1pk": f"{pk}#RCPLISTS#{r}",
            "gsi1sk": member_sk(list_id, r),
        }
        for r in recipient_ids
    )


def members_page(
    account_id: str, list_id: str, *, limit: int | None, cursor: str | None
) -> tuple[list[str], str | None]:
    """One page of a list's recipient ids."""
    items, next_cursor = table.query_page(
        pk_value=account_pk(account_id), prefix=f"LISTMEM#{list_id}#", limit=limit, cursor=cursor
    )
    return [str(i["recipient_id"]) for i in items], next_cursor


def touch_inbound(account_id: str, recipient_id: str, phone_index: str, channel: str, at: int, *, keep_s: int) -> None:
    """Remember when a recipient's number last wrote on a channel (no number, no content); gone `keep_s` later (TTL).

    Only while the recipient exists and is not being erased: an erasure deletes the record, and a message racing it
    must not write it back."""
    pk = account_pk(account_id)
    update = {
        "Key": table.key(pk, window_sk(channel, phone_index)),
        "UpdateExpression": "SET last_inbound_at = :at, expires_at = :expires",
        # Carriers deliver out of order: an older message never moves the time back.
        "ConditionExpression": "attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
        "ExpressionAttributeValues": table.values({":at": at, ":expires": at + keep_s}),
    }
    live = {
        "Key": table.key(pk, recipient_sk(recipient_id)),
        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#erasing)",
        "ExpressionAttributeNames": {"#erasing": ERASING_ATTR},
    }
    # Refused when a later message was recorded already, or the recipient is being erased: nothing to do either way.
    table.transact([{"Update": update}, {"ConditionCheck": live}])


def last_inbound(account_id: str, phone_index: str, channel: str) -> int | None:
    """Epoch seconds of the number's last inbound message on the channel, None when none is remembered."""
    item = table.get(account_pk(account_id), window_sk(channel, phone_index))
    return int(item["last_inbound_at"]) if item else None


def last_inbound_many(account_id: str, phone_indexes: Sequence[str], channel: str) -> dict[str, int]:
    """Last inbound times by blind index (BatchGetItem, 100 per call); numbers that never wrote are absent."""
    pk = account_pk(account_id)
    found = table.batch_get([(pk, window_sk(channel, i)) for i in phone_indexes])
    prefix = window_sk(channel, "")
    return {sk.removeprefix(prefix): int(item["last_inbound_at"]) for (_, sk), item in found.items()}

"""Messages, their per-carrier attempts, carrier-id lookups, held sends and carrier-event dedupe (Messaging table)."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk
from switchboard.dal.recipients import ERASING_ATTR, recipient_sk
from switchboard.models.message_status import RANK, advances

HELD_PARTITION = "HELD"  # gsi2: sends due later than SQS can delay them, across accounts (release_job reads it)
RESUME_SK = "HOLD#RESUME"  # an account's resume request, due at once on the held partition (dal/holds.py writes it)
# gsi2: messages `sent` without a final receipt yet, by when to check them (receipts_job reads it). Sharded so
# every send does not write one index partition: a partition takes about 1,000 writes a second.
SENT_PARTITION = "SENT"
SENT_SHARDS = 16
BATCH_WRITE = table.BATCH_WRITE_MAX  # messages per batched write
# The attribute holding a message's own sealed signing secret for its callback_url (a name, not a secret).
CALLBACK_SECRET_FIELD = "callback_secret_sealed"  # noqa: S105
# One time representation per stored message item: epoch seconds. Logic and the API see RFC 3339 text for these
# (as before); items stored before the change hold text, which reads the same.
_TIMES = ("created_at", "receipt_missing_at")
_TIMED_LISTS = ("events", "attempts")  # lists of {"at": time, ...}


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        return int(clock.parse(value).timestamp())
    return value


def _text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return clock.rfc3339_at(value)
    return value


def _timed(entries: Any, convert: Any) -> Any:
    if not isinstance(entries, list):
        return entries
    return [{**e, "at": convert(e["at"])} if isinstance(e, dict) and "at" in e else e for e in entries]


def _convert(fields: dict[str, Any], convert: Any) -> dict[str, Any]:
    out = dict(fields)
    for name in _TIMES:
        if out.get(name) is not None:
            out[name] = convert(out[name])
    for name in _TIMED_LISTS:
        if name in out:
            out[name] = _timed(out[name], convert)
    return out


def stored_form(item: dict[str, Any]) -> dict[str, Any]:
    """A message (or some of its fields) as stored: every time epoch seconds."""
    return _convert(item, _seconds)


def view(item: dict[str, Any] | None) -> Message | None:
    """A stored message as logic reads it: created_at, receipt_missing_at and events/attempts `at` RFC 3339."""
    if item is None:
        return None
    due = str(item.get("gsi2sk") or "")[:12]
    phone = str(item["gsi3pk"]).rpartition(_PHONE_INFIX)[2] if item.get("gsi3pk") else None
    return message_from(
        _convert(item, _text), held_until=int(due) if item.get("gsi2pk") and due.isdigit() else None, phone_index=phone
    )


@dataclass(frozen=True)
class StatusEvent:
    """One entry of a message's status history."""

    status: str
    at: str  # RFC 3339 (stored as epoch seconds)


@dataclass(frozen=True)
class LoggedAttempt:
    """One entry of a message's attempt log: a carrier tried, and how it went."""

    carrier: str
    outcome: str
    at: str  # RFC 3339 (stored as epoch seconds)


@dataclass(frozen=True)
class Message:
    """A message as logic reads it. Times the API shows are RFC 3339 text (`created_at`, `receipt_missing_at`,
    events and attempts); `send_at`, `valid_until`, `lease_until` and `sent_at_s` are epoch seconds, as the logic
    computes with them. Number and content stay sealed in `sealed` (attribute name → sealed value): only
    `open_field` of the repository opens them."""

    message_id: str
    account_id: str
    status: str
    created_at: str
    channel: str = ""
    from_number: str = ""
    country: str = ""
    recipient_id: str | None = None
    mode: str | None = None
    kind: str | None = None
    send_at: int | None = None
    valid_until: int | None = None
    callback_url: str | None = None
    broadcast_id: str | None = None
    carrier: str | None = None
    carrier_message_id: str | None = None
    error: Mapping[str, str] | None = None
    attempts: tuple[LoggedAttempt, ...] = ()
    events: tuple[StatusEvent, ...] = ()
    lease_until: float = 0
    sent_at_s: int | None = None
    receipt_missing_at: str | None = None
    erased: bool = False
    record: bool | None = None  # voice: the call is recorded
    recording_id: str | None = None  # its recording, once stored (a file with source `recording`)
    call: Mapping[str, str] | None = None  # what the carrier reported of the call
    # Files sent with it: ({file_id, content_type, size}, ...). Ids and types only, no personal data: not sealed.
    media: tuple[Mapping[str, Any], ...] | None = None
    sealed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Not attributes but index places: due on gsi2 (the held outbox, an account's hold, or for a `sent` message
    # its receipt check) and the blind index of the number on gsi3 (None when not read from the keys).
    held_until: int | None = None
    phone_index: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The one attempt record per (message, carrier): reserved before submitting, then how it ended."""

    message_id: str
    carrier: str
    outcome: str  # pending, accepted, failed, timeout, ...
    at: str = ""
    carrier_message_id: str = ""


_INDEX_PLACES = ("held_until", "phone_index")
_ATTRIBUTES = frozenset(f.name for f in dataclasses.fields(Message)) - {"sealed", *_INDEX_PLACES}
_SEALED_SUFFIX = "_sealed"


def message_from(attributes: Mapping[str, Any], **places: Any) -> Message:
    """A message from its attributes as logic reads them (RFC 3339 times; sealed fields by attribute name);
    keys, index attributes and attributes it does not know are left out. `places`: held_until, phone_index."""
    known: dict[str, Any] = {k: v for k, v in attributes.items() if k in _ATTRIBUTES and v is not None}
    known["sealed"] = {k: str(v) for k, v in attributes.items() if k.endswith(_SEALED_SUFFIX) and v}
    known["events"] = tuple(StatusEvent(status=e["status"], at=e["at"]) for e in attributes.get("events") or ())
    known["attempts"] = tuple(
        LoggedAttempt(carrier=a["carrier"], outcome=a["outcome"], at=a["at"]) for a in attributes.get("attempts") or ()
    )
    if known.get("error") is not None:
        known["error"] = dict(known["error"])
    if known.get("media") is not None:
        known["media"] = tuple(
            {"file_id": str(m["file_id"]), "content_type": str(m["content_type"]), "size": int(m["size"])}
            for m in known["media"]
        )
    return Message(**known, **places)


def attributes_of(message: Message) -> dict[str, Any]:
    """The inverse of message_from: the stored attributes of a message (times RFC 3339, None ones left out)."""
    out: dict[str, Any] = {}
    for name in _ATTRIBUTES:
        value = getattr(message, name)
        if value is None or (name == "erased" and not value):  # never stored False: a scrub sets it
            continue
        if name in ("events", "attempts"):
            value = [{f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)} for entry in value]
        elif name == "error":
            value = dict(value)
        elif name == "media":
            value = [dict(entry) for entry in value]
        out[name] = value
    out.update(message.sealed)
    return out


def check_attributes(names: Iterable[str]) -> None:
    """TypeError for an attribute a message does not have (a typo would otherwise be stored, then never read)."""
    unknown = sorted(set(names) - _ATTRIBUTES)
    if unknown:
        raise TypeError(f"a message has no attribute {', '.join(unknown)}")


def message_sk(message_id: str) -> str:
    """Sort key of a message."""
    return f"MSG#{message_id}"


def attempt_sk(message_id: str, carrier: str) -> str:
    """Sort key of the one attempt record per (message, carrier)."""
    return f"ATT#{message_id}#{carrier}"


def by_time_pk(account_id: str) -> str:
    """gsi1 partition of an account's messages, sorted by creation time."""
    return f"{account_pk(account_id)}#MSG"


def held_sk(send_at: int, account_id: str, message_id: str) -> str:
    """gsi2 sort key of a held message: due time first."""
    return f"{send_at:012d}#{account_id}#{message_id}"


def sent_partition(message_id: str) -> str:
    """The gsi2 partition of a `sent` message: one of SENT_SHARDS, fixed by its id."""
    return f"{SENT_PARTITION}#{zlib.crc32(message_id.encode()) % SENT_SHARDS:02d}"


def sent_fields(account_id: str, message_id: str, *, due: int) -> dict[str, Any]:
    """The gsi2 keys that put a `sent` message on the reconciliation index, due for a check at `due`."""
    return {"gsi2pk": sent_partition(message_id), "gsi2sk": held_sk(due, account_id, message_id)}


def _place(account_id: str, message_id: str, field: str) -> dict[str, str]:
    # Where the field lives is its associated data: a sealed value copied onto another message does not open.
    item_key = table.item_key(account_pk(account_id), message_sk(message_id))
    return {"table": table.TABLE, "item_key": item_key, "field": field}


def seal(account_id: str, message_id: str, field: str, value: str) -> str:
    """Seal one field of a message item."""
    return envelope.seal(account_id, value, **_place(account_id, message_id, field))


def open_field(account_id: str, message: Message, field: str) -> str | None:
    """Open one sealed field of a message of the account (None when absent, e.g. scrubbed)."""
    sealed = message.sealed.get(field)
    if not sealed:
        return None
    return envelope.open_sealed(account_id, sealed, **_place(account_id, message.message_id, field))


def new_message(
    *,
    account_id: str,
    message_id: str,
    created_at: str,
    phone_index: str,
    held_until: int | None,
    sealed: dict[str, str],
    **attributes: Any,
) -> Message:
    """A new message (not stored yet): `attributes` as given, each of `sealed` sealed.

    `held_until` puts it on the held index (the release job queues it then): a send due later than SQS can delay.
    """
    check_attributes(attributes)
    return message_from(
        {
            **attributes,
            "message_id": message_id,
            "account_id": account_id,
            "created_at": created_at,
            **{field: seal(account_id, message_id, field, value) for field, value in sealed.items()},
        },
        held_until=held_until,
        phone_index=phone_index,
    )


def _item(message: Message) -> dict[str, Any]:
    """A message as stored: its attributes (every time epoch seconds), keys and indexes."""
    account_id, message_id = message.account_id, message.message_id
    sk = message_sk(message_id)
    item: dict[str, Any] = {
        "pk": account_pk(account_id),
        "sk": sk,
        **attributes_of(message),
        "gsi1pk": by_time_pk(account_id),
        "gsi1sk": f"{message.created_at}#{message_id}",
    }
    if message.phone_index is not None:
        item.update(phone_keys(account_id, message.phone_index, sk))
    if message.held_until is not None:
        item["gsi2pk"] = HELD_PARTITION
        item["gsi2sk"] = held_sk(message.held_until, account_id, message_id)
    return stored_form(item)


def is_held(message: Message) -> bool:
    """True when the message is on the held index (or the reconciliation one): the release job owns its queueing."""
    return message.held_until is not None


def put_held(message: Message, due: int) -> None:
    """Store a new message held until `due` (the outbox): the release job queues it unless unheld first."""
    put(replace(message, held_until=due))


def forget_hold(message: Message) -> Message:
    """The image of a message taken off the held index (the stored one is unheld by `unhold`)."""
    return replace(message, held_until=None)


def callback_target(account_id: str, message_id: str) -> tuple[str, str] | None:
    """(callback_url, signing secret) of a message; None when the message (or its callback) is gone."""
    message = get(account_id, message_id) if message_id else None
    if message is None or not message.callback_url or not message.sealed.get(CALLBACK_SECRET_FIELD):
        return None
    return message.callback_url, open_field(account_id, message, CALLBACK_SECRET_FIELD) or ""


def put_many(messages: Iterable[Message]) -> int:
    """New messages, 25 per BatchWriteItem."""
    return table.batch_put(_item(m) for m in messages)


def delete_many(account_id: str, message_ids: Iterable[str]) -> int:
    """Remove new messages (a broadcast rolled back before any was queued), 25 per BatchWriteItem."""
    return table.batch_delete((account_pk(account_id), message_sk(m)) for m in message_ids)


def count_existing(account_id: str, message_ids: Iterable[str]) -> int:
    """How many of these messages are stored (BatchGetItem, strongly consistent)."""
    return len(table.batch_get([(account_pk(account_id), message_sk(m)) for m in message_ids]))


def put(message: Message) -> None:
    """One new message."""
    table.put(_item(message), condition="attribute_not_exists(pk)")


def get(account_id: str, message_id: str) -> Message | None:
    """A message of the account, or None."""
    return view(table.get(account_pk(account_id), message_sk(message_id)))


def page(
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    since: str,
    until: str,
    status: str | None,
    channel: str | None,
) -> tuple[list[Message], str | None]:
    """Newest first, between two RFC 3339 times, optionally one status and one channel."""
    filters, names, vals = [], {}, {}
    if status:
        filters.append("#status = :status")
        names["#status"], vals[":status"] = "status", status
    if channel:
        filters.append("#channel = :channel")
        names["#channel"], vals[":channel"] = "channel", channel
    items, more = table.query_page(
        pk_value=by_time_pk(account_id),
        index="gsi1",
        limit=limit,
        cursor=cursor,
        forward=False,
        sk_between=(since, until + "~"),
        filter_expression=" AND ".join(filters) or None,
        filter_names=names or None,
        filter_values=vals or None,
    )
    return [i for i in map(view, items) if i is not None], more


def _from_statuses(new: str) -> list[str]:
    return [s for s in RANK if advances(s, new)]


def transition(
    account_id: str,
    message_id: str,
    new: str,
    *,
    at: str,
    also: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    sent_due: int | None = None,
) -> Message | None:
    """Move to `new` only if that advances the lifecycle (atomic: never backwards); the new image, or None.

    `sent_due` (moving to `sent`) puts the message on the reconciliation index, due for a check then.
    """
    allowed = _from_statuses(new)
    if not allowed:
        return None
    if sent_due is not None:
        also = {**(also or {}), **sent_fields(account_id, message_id, due=sent_due)}
    if RANK[new] > RANK["sent"]:
        # Past `sent`, a message leaves the gsi2 indexes (the reconciliation index, the held outbox): nothing is
        # left to check or to release.
        remove = tuple(dict.fromkeys((*remove, "gsi2pk", "gsi2sk")))
    names = {"#status": "status", "#events": "events"}
    vals: dict[str, Any] = {":new": new, ":event": [{"status": new, "at": _seconds(at)}], ":empty": []}
    sets = ["#status = :new", "#events = list_append(if_not_exists(#events, :empty), :event)"]
    for n, (field, value) in enumerate(stored_form(also or {}).items()):
        names[f"#f{n}"], vals[f":v{n}"] = field, value
        sets.append(f"#f{n} = :v{n}")
    placeholders = []
    for n, status in enumerate(allowed):
        vals[f":s{n}"] = status
        placeholders.append(f":s{n}")
    expression = "SET " + ", ".join(sets)
    if remove:
        for n, field in enumerate(remove):
            names[f"#r{n}"] = field  # placeholders: `error` is a reserved word
        expression += " REMOVE " + ", ".join(f"#r{n}" for n in range(len(remove)))
    return view(
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression=expression,
            condition=f"attribute_exists(pk) AND #status IN ({', '.join(placeholders)})",
            names=names,
            vals=vals,
        )
    )


def claim(account_id: str, message_id: str, *, now: float, lease_s: float, at: str) -> Message | None:
    """queued → sending with a lease, or take over a `sending` whose worker's lease ran out; None if not ours."""
    lease = now + lease_s
    claimed = transition(account_id, message_id, "sending", at=at, also={"lease_until": lease})
    if claimed is not None and claimed.status == "sending":
        return claimed
    return view(
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET lease_until = :lease",
            condition="#status = :sending AND lease_until < :now",
            names={"#status": "status"},
            vals={":lease": lease, ":sending": "sending", ":now": now},
        )
    )


def cancel(account_id: str, message_id: str, *, at: str) -> Message | None:
    """queued → canceled, off the held index, in one conditional write; None when a worker claimed it (or it ended).

    The worker's claim is the same kind of write (queued → sending): exactly one of the two succeeds.
    """
    return view(
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression=(
                "SET #status = :canceled, #events = list_append(if_not_exists(#events, :empty), :event),"
                " lease_until = :zero REMOVE gsi2pk, gsi2sk"
            ),
            condition="#status = :queued",
            names={"#status": "status", "#events": "events"},
            vals={
                ":canceled": "canceled",
                ":queued": "queued",
                ":event": [{"status": "canceled", "at": _seconds(at)}],
                ":empty": [],
                ":zero": 0,
            },
        )
    )


def release_lease(account_id: str, message_id: str) -> None:
    """Let the next delivery of this record claim the message at once (paced, or every carrier failed)."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="SET lease_until = :zero",
        condition="#status = :sending",
        names={"#status": "status"},
        vals={":zero": 0, ":sending": "sending"},
    )


def record_attempts(
    account_id: str, message_id: str, attempts: list[dict[str, Any]], *, carrier: str | None = None
) -> None:
    """Store the message's attempt log (its worker holds the lease: no one else writes it meanwhile)."""
    vals: dict[str, Any] = {":attempts": _timed(attempts, _seconds)}
    expression = "SET attempts = :attempts"
    if carrier is not None:
        vals[":carrier"] = carrier
        expression += ", carrier = :carrier"
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression=expression,
        condition="attribute_exists(pk)",
        vals=vals,
    )


def _attempt(item: dict[str, Any]) -> Attempt:
    return Attempt(
        message_id=str(item["message_id"]),
        carrier=str(item["carrier"]),
        outcome=str(item.get("outcome", "pending")),
        at=str(item.get("at") or ""),
        carrier_message_id=str(item.get("carrier_message_id") or ""),
    )


def claim_attempt(account_id: str, message_id: str, carrier: str, *, at: str) -> Attempt | None:
    """Reserve (message, carrier) before submitting: None when reserved; else the record that blocks it.

    A carrier that refused at once (`failed`) may be tried again; one that accepted, timed out (it may have
    accepted late) or whose worker vanished mid-call (`pending`) never gets this message again.
    """
    pk, sk = account_pk(account_id), attempt_sk(message_id, carrier)
    item = {"pk": pk, "sk": sk, "message_id": message_id, "carrier": carrier, "outcome": "pending", "at": at}
    if table.put(item, condition="attribute_not_exists(pk) OR outcome = :failed", vals={":failed": "failed"}):
        return None
    blocking = table.get(pk, sk)
    # Gone between the refused write and this read (only a purge deletes it): count it as still pending.
    return _attempt(blocking) if blocking else Attempt(message_id=message_id, carrier=carrier, outcome="pending")


def finish_attempt(account_id: str, message_id: str, carrier: str, outcome: str, carrier_message_id: str = "") -> None:
    """Record how the attempt ended (acceptance first of all: it must never be retried)."""
    table.update(
        account_pk(account_id),
        attempt_sk(message_id, carrier),
        expression="SET outcome = :outcome, carrier_message_id = :cid",
        vals={":outcome": outcome, ":cid": carrier_message_id},
    )


def carrier_pk(carrier: str, carrier_message_id: str) -> str:
    """Global lookup: a carrier's message id → our account and message (status callbacks carry only theirs)."""
    return f"CMSG#{carrier}#{carrier_message_id}"


def map_carrier_id(carrier: str, carrier_message_id: str, account_id: str, message_id: str) -> None:
    """Store the lookup when a carrier accepts."""
    table.put(
        {
            "pk": carrier_pk(carrier, carrier_message_id),
            "sk": "CMSG",
            "account_id": account_id,
            "message_id": message_id,
        }
    )


def find_by_carrier_id(carrier: str, carrier_message_id: str) -> tuple[str, str] | None:
    """(account_id, message_id) of a carrier's message id, or None."""
    item = table.get(carrier_pk(carrier, carrier_message_id), "CMSG")
    return (str(item["account_id"]), str(item["message_id"])) if item else None


def first_sight(carrier: str, event_id: str, *, expires_at: int) -> bool:
    """True the first time a carrier event id is seen (duplicates are no-ops)."""
    return table.put(
        {"pk": f"CEVT#{carrier}#{event_id}", "sk": "CEVT", "expires_at": expires_at},
        condition="attribute_not_exists(pk)",
    )


def forget_sight(carrier: str, event_id: str) -> None:
    """Undo first_sight when processing failed, so the carrier's retry is processed."""
    table.delete(f"CEVT#{carrier}#{event_id}", "CEVT")


@dataclass(frozen=True)
class HeldMessage:
    """A message on a held index: whose, which, and when it is due (epoch seconds)."""

    account_id: str
    message_id: str
    due: int

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> HeldMessage:
        """The held message an index entry stands for (its gsi2 sort key starts with the due time)."""
        return cls(
            account_id=str(item["account_id"]), message_id=str(item["message_id"]), due=int(str(item["gsi2sk"])[:12])
        )


@dataclass(frozen=True)
class ResumeRequest:
    """An account asks the release job to hand its held traffic back (a restore); `token` names this request."""

    account_id: str
    token: str | None


HeldEntry = HeldMessage | ResumeRequest  # what the release job's index holds


def _held_entry(item: Mapping[str, Any]) -> HeldEntry:
    if item.get("sk") == RESUME_SK:
        token = item.get("token")
        return ResumeRequest(account_id=str(item["account_id"]), token=None if token is None else str(token))
    return HeldMessage.from_item(item)


def due_held(until: int, *, limit: int = 100) -> list[HeldEntry]:
    """Held messages and resume requests due by `until` (epoch seconds), earliest first."""
    items, _ = table.query_page(pk_value=HELD_PARTITION, index="gsi2", limit=limit, sk_between=("0", f"{until:012d}~"))
    return [_held_entry(item) for item in items]


def hold(account_id: str, message_id: str, due: int) -> None:
    """Put a stored message on the held index, due at `due`: the release job queues it (the outbox)."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="SET gsi2pk = :held, gsi2sk = :due",
        condition="attribute_exists(pk)",
        vals={":held": HELD_PARTITION, ":due": held_sk(due, account_id, message_id)},
    )


def unhold(account_id: str, message_id: str) -> None:
    """Take a message off the held index (it is on its queue now, or expired); a message the worker already put
    on the reconciliation index keeps its place there."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="REMOVE gsi2pk, gsi2sk",
        condition="attribute_exists(pk) AND gsi2pk = :held",
        vals={":held": HELD_PARTITION},
    )


_PHONE_INFIX = "#PH#"
# The account's logged events (dal.events) sort under this prefix; one about a number is indexed on gsi3 too.
EVENT_SK_PREFIX = "EVT#"


def by_phone_pk(account_id: str, phone_index: str) -> str:
    """gsi3 partition of the messages to and from one number (by blind index) of an account."""
    return f"{account_pk(account_id)}{_PHONE_INFIX}{phone_index}"


def timeline_sk(sk: str) -> str:
    """gsi3 sort key of a message or inbound message: its id's time-ordered part first, so one number's messages in
    both directions read as one timeline (`01k…#MSG#msg_01k…`); the item's own key follows (unique, and says which)."""
    item_id = sk.partition("#")[2]
    return f"{item_id.partition('_')[2]}#{sk}"


# Every timeline sort key starts with an id's time part (Crockford base32 of a 48-bit millisecond time: its first
# character is 0-7); items indexed before the timeline existed (gsi3sk = their sk, `MSG#…`) fall outside this range.
TIMELINE_RANGE = ("0", "7~")


def phone_keys(account_id: str, phone_index: str, sk: str) -> dict[str, str]:
    """The gsi3 attributes of a message or inbound message: erasure finds the person's items without the rest, and
    the conversation timeline reads them newest first."""
    return {"gsi3pk": by_phone_pk(account_id, phone_index), "gsi3sk": timeline_sk(sk)}


@dataclass(frozen=True)
class PhoneEntry:
    """A message or an inbound message still indexed under a number: what an erasure needs to know of it."""

    inbound: bool
    item_id: str  # the message id, or the inbound message id
    recipient_id: str | None
    media_count: int = 0  # an inbound message's files (stored as files `inm_…`, docs/conversations.md)
    event: bool = False  # a logged webhook event about the number (item_id: its event id)


def _phone_entry(item: dict[str, Any]) -> PhoneEntry:
    sk = str(item["sk"])
    if sk.startswith(EVENT_SK_PREFIX):
        return PhoneEntry(
            inbound=False, item_id=str(item["event_id"]), recipient_id=item.get("recipient_id"), event=True
        )
    inbound = sk.startswith(inbound_sk(""))
    item_id = sk.removeprefix(inbound_sk("")) if inbound else str(item["message_id"])
    return PhoneEntry(
        inbound=inbound,
        item_id=item_id,
        recipient_id=item.get("recipient_id"),
        media_count=len(item.get("media") or ()) if inbound else 0,
    )


def for_phone(
    account_id: str, phone_index: str, *, cursor: str | None, limit: int
) -> tuple[list[PhoneEntry], str | None]:
    """One page of the items still indexed under a number (a scrubbed item leaves the index)."""
    items, more = table.query_page(
        pk_value=by_phone_pk(account_id, phone_index), index="gsi3", limit=limit, cursor=cursor
    )
    return [_phone_entry(i) for i in items], more


def erase_entry(account_id: str, entry: PhoneEntry) -> None:
    """Erase one of a person's items: an inbound message or an event goes (it is all theirs), a message is
    scrubbed."""
    if entry.event:
        table.delete(account_pk(account_id), f"{EVENT_SK_PREFIX}{entry.item_id}")
    elif entry.inbound:
        delete_inbound(account_id, entry.item_id)
    else:
        scrub(account_id, entry.item_id)


def scrub(account_id: str, message_id: str) -> None:
    """Remove a message's number, content and recipient; status, timing and carriers stay for the account's records."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression=(
            "REMOVE to_sealed, body_sealed, template_sealed, rendered_sealed, recipient_id, gsi3pk, gsi3sk"
            " SET erased = :true"
        ),
        condition="attribute_exists(pk)",
        vals={":true": True},
    )


def get_attempt(account_id: str, message_id: str, carrier: str) -> Attempt | None:
    """The message's attempt record at one carrier, or None when it never went there."""
    item = table.get(account_pk(account_id), attempt_sk(message_id, carrier))
    return _attempt(item) if item else None


def index_sent(account_id: str, message_id: str, *, carrier_message_id: str, sent_at_s: int, due: int) -> bool:
    """Put a message that is `sent` (a carrier's own `sent` receipt moved it there first) on the reconciliation
    index; False when it is no longer `sent`."""
    fields = sent_fields(account_id, message_id, due=due)
    return (
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET gsi2pk = :pk, gsi2sk = :sk, carrier_message_id = :cid, sent_at_s = :at",
            condition="#status = :sent",
            names={"#status": "status"},
            vals={
                ":pk": fields["gsi2pk"],
                ":sk": fields["gsi2sk"],
                ":cid": carrier_message_id,
                ":at": sent_at_s,
                ":sent": "sent",
            },
        )
        is not None
    )


def due_sent(shard: int, until: int, *, limit: int, cursor: str | None) -> tuple[list[Message], str | None]:
    """One page of the `sent` messages of one index shard due for a check by `until`, earliest first."""
    items, more = table.query_page(
        pk_value=f"{SENT_PARTITION}#{shard:02d}",
        index="gsi2",
        limit=limit,
        cursor=cursor,
        sk_between=("0", f"{until:012d}~"),
    )
    return [i for i in map(view, items) if i is not None], more


def recheck_sent(account_id: str, message_id: str, *, due: int) -> bool:
    """Check a still-`sent` message again at `due`; False when it moved on meanwhile."""
    fields = sent_fields(account_id, message_id, due=due)
    return (
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET gsi2pk = :pk, gsi2sk = :sk",
            condition="#status = :sent",
            names={"#status": "status"},
            vals={":pk": fields["gsi2pk"], ":sk": fields["gsi2sk"], ":sent": "sent"},
        )
        is not None
    )


def mark_receipt_missing(account_id: str, message_id: str, *, error: dict[str, str], at: str) -> Message | None:
    """A `sent` message no receipt will settle: it stays `sent`, carries `error`, leaves the index; None when it
    moved on meanwhile."""
    return view(
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET #error = :error, receipt_missing_at = :at REMOVE gsi2pk, gsi2sk",
            condition="#status = :sent",
            names={"#status": "status", "#error": "error"},
            vals={":error": error, ":at": _seconds(at), ":sent": "sent"},
        )
    )


def early_pk(carrier: str, carrier_message_id: str) -> str:
    """Partition of the receipts that arrived before their carrier-id mapping (CMSG) was written."""
    return f"CEARLY#{carrier}#{carrier_message_id}"


def keep_early(
    carrier: str, carrier_message_id: str, *, event_id: str, status: str, error_code: str, at: str, expires_at: int
) -> None:
    """Keep a receipt whose message is not known yet (idempotent by the carrier's event id; TTL `expires_at`)."""
    table.put(
        {
            "pk": early_pk(carrier, carrier_message_id),
            "sk": f"EVT#{event_id}",
            "status": status,
            "error_code": error_code,
            "at": at,
            "expires_at": expires_at,
        }
    )


@dataclass(frozen=True)
class EarlyReceipt:
    """A carrier's status receipt kept until its message's carrier-id mapping is written."""

    status: str
    error_code: str
    at: str  # the carrier's time, as it gave it
    expires_at: int  # epoch seconds (the item's TTL)


def early_receipts(carrier: str, carrier_message_id: str) -> list[EarlyReceipt]:
    """The receipts kept for a carrier's message id (strongly consistent), expired ones included."""
    return [
        EarlyReceipt(
            status=str(item.get("status", "")),
            error_code=str(item.get("error_code") or ""),
            at=str(item.get("at", "")),
            expires_at=int(item.get("expires_at", 0)),
        )
        for item in table.query_all(pk_value=early_pk(carrier, carrier_message_id), prefix="EVT#")
    ]


def inbound_sk(inbound_id: str) -> str:
    """Sort key of an inbound message."""
    return f"INB#{inbound_id}"


def put_inbound(
    account_id: str,
    inbound_id: str,
    *,
    sender: str,
    from_index: str,
    body: str,
    recipient_id: str | None,
    sealed: Mapping[str, str] | None = None,
    **fields: Any,
) -> str | None:
    """Store an inbound message (number, body and `sealed` fields sealed, indexed by the number on gsi3 so an
    erasure finds it), linked to its recipient only while that recipient is not being erased: otherwise (the erasure
    began meanwhile) it is stored unlinked. The recipient id it was stored with."""
    pk, sk = account_pk(account_id), inbound_sk(inbound_id)
    place = {"table": table.TABLE, "item_key": table.item_key(pk, sk)}
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "inbound_id": inbound_id,
        **fields,
        "from_sealed": envelope.seal(account_id, sender, field="from_sealed", **place),
        "from_index": from_index,
        "body_sealed": envelope.seal(account_id, body, field="body_sealed", **place),
        **{name: envelope.seal(account_id, value, field=name, **place) for name, value in (sealed or {}).items()},
        "recipient_id": recipient_id,
        **phone_keys(account_id, from_index, sk),
    }
    if recipient_id:
        linked = table.transact(
            [
                {"Put": {"Item": table.dump(item)}},
                {
                    "ConditionCheck": {
                        "Key": table.key(pk, recipient_sk(recipient_id)),
                        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#erasing)",
                        "ExpressionAttributeNames": {"#erasing": ERASING_ATTR},
                    }
                },
            ]
        )
        if linked:
            return str(recipient_id)
    table.put({**item, "recipient_id": None})
    return None


@dataclass(frozen=True)
class Inbound:
    """A stored inbound message as logic reads it; its number, body and media handles stay sealed (`open_inbound`)."""

    inbound_id: str
    account_id: str
    channel: str
    kind: str
    received_at: str  # RFC 3339, the carrier's time
    recipient_id: str | None = None
    in_reply_to: str | None = None
    media: tuple[Mapping[str, Any], ...] = ()  # what may be shown: [{kind, content_type, status, file_id?, size?}]
    sealed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    carrier: str = ""
    to: str = ""  # our number it came to
    media_done: bool = False  # media_worker settled its files and sent its webhook
    phone_index: str | None = None  # the sender's number's blind index (gsi3), while not erased


def inbound_from(item: Mapping[str, Any], account_id: str) -> Inbound:
    """A stored inbound item as a record (items stored before kinds existed are text)."""
    return Inbound(
        inbound_id=str(item["inbound_id"]),
        account_id=account_id,
        channel=str(item.get("channel") or ""),
        kind=str(item.get("kind") or "text"),
        received_at=str(item.get("received_at") or ""),
        recipient_id=item.get("recipient_id") or None,
        in_reply_to=item.get("in_reply_to") or None,
        media=tuple({str(k): v for k, v in m.items()} for m in item.get("media") or ()),
        sealed={k: str(v) for k, v in item.items() if k.endswith(_SEALED_SUFFIX) and v},
        carrier=str(item.get("carrier") or ""),
        to=str(item.get("to") or ""),
        media_done=bool(item.get("media_done")),
        phone_index=str(item["gsi3pk"]).rpartition(_PHONE_INFIX)[2] if item.get("gsi3pk") else None,
    )


def open_inbound(inbound: Inbound, field: str) -> str | None:
    """Open one sealed field of an inbound message (None when it has none)."""
    value = inbound.sealed.get(field)
    if not value:
        return None
    pk, sk = account_pk(inbound.account_id), inbound_sk(inbound.inbound_id)
    return envelope.open_sealed(
        inbound.account_id, value, table=table.TABLE, item_key=table.item_key(pk, sk), field=field
    )


TimelineEntry = Message | Inbound  # one item of a number's timeline: a message we sent, or one they sent


def timeline(
    account_id: str, phone_index: str, *, limit: int, cursor: str | None
) -> tuple[list[TimelineEntry], str | None]:
    """One page of the messages to and from a number (by blind index), both directions, newest first: one Query."""
    items, more = table.query_page(
        pk_value=by_phone_pk(account_id, phone_index),
        index="gsi3",
        limit=limit,
        cursor=cursor,
        forward=False,
        sk_between=TIMELINE_RANGE,
    )
    entries: list[TimelineEntry] = []
    for item in items:
        if str(item["sk"]).startswith(inbound_sk("")):
            entries.append(inbound_from(item, account_id))
        elif (message := view(item)) is not None:
            entries.append(message)
    return entries, more


def get_inbound(account_id: str, inbound_id: str) -> Inbound | None:
    """One stored inbound message, or None (erased, or gone with retention)."""
    item = table.get(account_pk(account_id), inbound_sk(inbound_id))
    return inbound_from(item, account_id) if item is not None else None


def set_inbound_media(account_id: str, inbound_id: str, media: list[dict[str, Any]], *, done: bool = False) -> bool:
    """Record what became of an inbound message's files; `done` once its webhook went. False when the message is
    gone (erased, or deleted by retention) or was finished already."""
    condition = "attribute_exists(pk)" + (" AND attribute_not_exists(media_done)" if done else "")
    updated = table.update(
        account_pk(account_id),
        inbound_sk(inbound_id),
        expression="SET #media = :media" + (", media_done = :done" if done else ""),
        condition=condition,
        names={"#media": "media"},
        vals={":media": media, **({":done": True} if done else {})},
    )
    return updated is not None


def delete_inbound(account_id: str, inbound_id: str) -> None:
    """Remove an inbound message (erasure: it is all the person's)."""
    table.delete(account_pk(account_id), inbound_sk(inbound_id))

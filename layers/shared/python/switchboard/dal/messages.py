"""Messages, their per-carrier attempts, carrier-id lookups, held sends and carrier-event dedupe (Messaging table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from switchboard.dal import messaging as table
from switchboard.dal.messaging import account_pk
from switchboard.models.lifecycle import RANK, advances

HELD_PARTITION = "HELD"  # gsi2: sends due later than SQS can delay them, across accounts (release_job reads it)
EVENT_DEDUPE_TTL_S = 7 * 86400


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


def put_many(items: Iterable[dict[str, Any]]) -> int:
    """New messages, 25 per BatchWriteItem."""
    return table.batch_put(items)


def put(item: dict[str, Any]) -> None:
    """One new message."""
    table.put(item, condition="attribute_not_exists(pk)")


def get(account_id: str, message_id: str) -> dict[str, Any] | None:
    """A message of the account, or None."""
    return table.get(account_pk(account_id), message_sk(message_id))


def page(
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    since: str,
    until: str,
    status: str | None,
    channel: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, between two RFC 3339 times, optionally one status and one channel."""
    filters, names, vals = [], {}, {}
    if status:
        filters.append("#status = :status")
        names["#status"], vals[":status"] = "status", status
    if channel:
        filters.append("#channel = :channel")
        names["#channel"], vals[":channel"] = "channel", channel
    return table.query_page(
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
) -> dict[str, Any] | None:
    """Move to `new` only if that advances the lifecycle (atomic: never backwards); the new image, or None."""
    allowed = _from_statuses(new)
    if not allowed:
        return None
    names = {"#status": "status", "#events": "events"}
    vals: dict[str, Any] = {":new": new, ":event": [{"status": new, "at": at}], ":empty": []}
    sets = ["#status = :new", "#events = list_append(if_not_exists(#events, :empty), :event)"]
    for n, (field, value) in enumerate((also or {}).items()):
        names[f"#f{n}"], vals[f":v{n}"] = field, value
        sets.append(f"#f{n} = :v{n}")
    placeholders = []
    for n, status in enumerate(allowed):
        vals[f":s{n}"] = status
        placeholders.append(f":s{n}")
    expression = "SET " + ", ".join(sets)
    if remove:
        expression += " REMOVE " + ", ".join(remove)
    return table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression=expression,
        condition=f"attribute_exists(pk) AND #status IN ({', '.join(placeholders)})",
        names=names,
        vals=vals,
    )


def claim(account_id: str, message_id: str, *, now: float, lease_s: float, at: str) -> dict[str, Any] | None:
    """queued → sending with a lease, or take over a `sending` whose worker's lease ran out; None if not ours."""
    lease = now + lease_s
    claimed = transition(account_id, message_id, "sending", at=at, also={"lease_until": lease})
    if claimed is not None and claimed.get("status") == "sending":
        return claimed
    return table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="SET lease_until = :lease",
        condition="#status = :sending AND lease_until < :now",
        names={"#status": "status"},
        vals={":lease": lease, ":sending": "sending", ":now": now},
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
    vals: dict[str, Any] = {":attempts": attempts}
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


def claim_attempt(account_id: str, message_id: str, carrier: str, *, at: str) -> dict[str, Any] | None:
    """Reserve (message, carrier) before submitting: None when reserved; else the record that blocks it.

    A carrier that refused at once (`failed`) may be tried again; one that accepted, timed out (it may have
    accepted late) or whose worker vanished mid-call (`pending`) never gets this message again.
    """
    pk, sk = account_pk(account_id), attempt_sk(message_id, carrier)
    item = {"pk": pk, "sk": sk, "message_id": message_id, "carrier": carrier, "outcome": "pending", "at": at}
    if table.put(item, condition="attribute_not_exists(pk) OR outcome = :failed", vals={":failed": "failed"}):
        return None
    return table.get(pk, sk) or {"outcome": "pending"}


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


def due_held(until: int, *, limit: int = 100) -> list[dict[str, Any]]:
    """Held messages due by `until` (epoch seconds), earliest first."""
    items, _ = table.query_page(pk_value=HELD_PARTITION, index="gsi2", limit=limit, sk_between=("0", f"{until:012d}~"))
    return items


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
    """Take a message off the held index (it is on its queue now, or expired)."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="REMOVE gsi2pk, gsi2sk",
        condition="attribute_exists(pk)",
    )


def for_recipient(account_id: str, recipient_id: str) -> list[dict[str, Any]]:
    """Every message of the account to one recipient (erasure scrubs them)."""
    return [
        m
        for m in table.query_all(pk_value=account_pk(account_id), prefix="MSG#")
        if m.get("recipient_id") == recipient_id
    ]


def scrub(account_id: str, message_id: str) -> None:
    """Remove a message's number and content; status, timing and carriers stay for the account's records."""
    table.update(
        account_pk(account_id),
        message_sk(message_id),
        expression="REMOVE to_sealed, body_sealed, template_sealed, rendered_sealed SET erased = :true",
        condition="attribute_exists(pk)",
        vals={":true": True},
    )

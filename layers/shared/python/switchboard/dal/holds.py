"""Traffic held while an account may not act: its own gsi2 partition, held webhook jobs, and the resume marker.

A held message keeps its item; only its gsi2 keys move from the release job's `HELD` partition to `HOLD#<account>`
(same sort key: its due time). A held webhook job is an item `HOLD#HOOK#<event>#<target>` in the account's
partition, on the same gsi2 partition. Restore writes `HOLD#RESUME` on the `HELD` partition: the release job then
moves everything back. Every item lives under `ACCT#<id>`, so the purge removes what is still held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from switchboard.dal import clients
from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk
from switchboard.dal.messages import HELD_PARTITION, RESUME_SK, HeldMessage, held_sk, message_sk

HOOK_PREFIX = "HOLD#HOOK#"
PAGE = 100


@dataclass(frozen=True)
class HeldWebhookJob:
    """A webhook job kept while its account may not act: `job` is its queue body (the event sealed as queued)."""

    account_id: str
    event_id: str
    target_id: str
    job: str


def _parked(item: dict[str, Any]) -> HeldMessage | HeldWebhookJob:
    sk = str(item.get("sk", ""))
    if not sk.startswith(HOOK_PREFIX):
        return HeldMessage.from_item(item)
    # Event ids are generated (`evt_…`, no `#`), so the first `#` ends the event id.
    event_id, _, target_id = sk.removeprefix(HOOK_PREFIX).partition("#")
    return HeldWebhookJob(
        account_id=str(item["account_id"]), event_id=event_id, target_id=target_id, job=str(item["job"])
    )


def take_webhook_job(held: HeldWebhookJob) -> bool:
    """Delete a held webhook job once it is queued again: True if this call removed it."""
    return take(held.account_id, hook_sk(held.event_id, held.target_id))


def take_resume(account_id: str, *, token: str | None) -> bool:
    """Delete the account's resume request (only the one carrying `token`, if given)."""
    return take(account_id, RESUME_SK, token=token)


def hold_pk(account_id: str) -> str:
    """gsi2 partition of one account's held traffic (never read by the release job's due query)."""
    return f"HOLD#{account_id}"


def park_message(account_id: str, message_id: str, *, due: int, now: float) -> bool:
    """Hold a message no worker is sending: queued, or `sending` whose lease ran out; False otherwise."""
    return (
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET gsi2pk = :hold, gsi2sk = :due",
            condition="#status = :queued OR (#status = :sending AND lease_until < :now)",
            names={"#status": "status"},
            vals={
                ":hold": hold_pk(account_id),
                ":due": held_sk(due, account_id, message_id),
                ":queued": "queued",
                ":sending": "sending",
                ":now": now,
            },
        )
        is not None
    )


def unpark_message(account_id: str, message_id: str) -> bool:
    """Back on the release job's index (same due time), whatever its status: the release job decides."""
    return (
        table.update(
            account_pk(account_id),
            message_sk(message_id),
            expression="SET gsi2pk = :held",
            condition="gsi2pk = :hold",
            vals={":held": HELD_PARTITION, ":hold": hold_pk(account_id)},
        )
        is not None
    )


def hook_sk(event_id: str, target_id: str) -> str:
    """Sort key of one held webhook job (one per event and target: a redelivered job overwrites itself)."""
    return f"{HOOK_PREFIX}{event_id}#{target_id}"


def park_webhook(account_id: str, sk: str, job: str, *, at: int) -> None:
    """Keep a webhook job (its JSON body, event sealed as it was queued) until the account may act again."""
    table.put(
        {
            "pk": account_pk(account_id),
            "sk": sk,
            "account_id": account_id,
            "job": job,
            "held_at": at,
            "gsi2pk": hold_pk(account_id),
            "gsi2sk": f"{at:012d}#{sk}",
        }
    )


def park_webhook_job(account_id: str, event_id: str, target_id: str, job: str, *, at: int) -> None:
    """Keep one webhook job (one per event and target) until the account may act again."""
    park_webhook(account_id, hook_sk(event_id, target_id), job, at=at)


def take(account_id: str, sk: str, *, token: str | None = None) -> bool:
    """Delete a held item if it is still there (and still carries `token`, if given): True if this call removed it."""
    condition, vals = "attribute_exists(pk)", None
    if token is not None:
        condition, vals = "#token = :token", table.values({":token": token})
    request: dict[str, Any] = {
        "TableName": table.name(),
        "Key": table.key(account_pk(account_id), sk),
        "ConditionExpression": condition,
    }
    if vals is not None:
        request["ExpressionAttributeNames"] = {"#token": "token"}
        request["ExpressionAttributeValues"] = vals
    try:
        clients.dynamodb().delete_item(**request)
    except ClientError as error:
        if table.conditional_failed(error):
            return False
        raise
    return True


def parked(account_id: str) -> list[HeldMessage | HeldWebhookJob]:
    """The first page of an account's held traffic (callers move each one off the partition, then ask again)."""
    items, _ = table.query_page(pk_value=hold_pk(account_id), index="gsi2", limit=PAGE)
    return [_parked(item) for item in items]


def mark_resume(account_id: str, *, now: int, token: str) -> None:
    """Ask the release job to release the account's held traffic (due at once). A new `token` each time: the job
    removes only the request it served, never one written while it ran."""
    table.put(
        {
            "pk": account_pk(account_id),
            "sk": RESUME_SK,
            "account_id": account_id,
            "token": token,
            "gsi2pk": HELD_PARTITION,
            "gsi2sk": held_sk(now, account_id, "resume"),
        }
    )

"""What an attacker who can write the Audit table (DynamoDB PutItem/DeleteItem, no more) does to a trail.

`rechain` models the strongest such attacker: one holding an Audit writer's role, who may also call
kms:GenerateMac with the real key (`key_id=None`), or who brings an HMAC key of its own (`key_id` given).
"""

from __future__ import annotations

import base64
from typing import Any

import boto3

from functions.audit_anchor_job import handler as anchor_handler
from local.scheduler import scheduled_event
from switchboard import settings
from switchboard.dal import audit as store
from switchboard.logic import audit
from tests.integration.conftest import Context

ACCOUNT = "acct_victim"
META_KEYS = ("type", "outcome", "actor", "at", "source_ip", "user_agent", "request_id")


def table() -> str:
    return settings.get().table("AUDIT_TABLE")


def record(n: int, account_id: str = ACCOUNT, start: int = 0) -> list[str]:
    """Append `n` events the way the functions do; returns their ids."""
    return [
        audit.record(
            account_id=account_id,
            type="api_key.created",
            outcome="success",
            actor=f"usr_{start + i}",
            target={"key_id": f"key_{start + i}"},
            data={"role": "viewer", "n": start + i},
        ).id
        for i in range(n)
    ]


def run_anchor_job() -> Any:
    """The scheduled job, as EventBridge invokes it (its own deployed environment)."""
    from switchboard import catalog  # noqa: PLC0415

    schedule = catalog.function("audit_anchor_job").schedule
    assert schedule is not None
    return anchor_handler.lambda_handler(scheduled_event(schedule), Context())


def items(account_id: str = ACCOUNT) -> list[dict[str, Any]]:
    """Every raw item of the trail, oldest first."""
    pages = (
        boto3.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=table(),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ACCT#{account_id}"}},
        )
    )
    return [item for page in pages for item in page["Items"]]


def item(seq: int, account_id: str = ACCOUNT) -> dict[str, Any]:
    return next(i for i in items(account_id) if int(i["seq"]["N"]) == seq)


def put(raw: dict[str, Any]) -> None:
    """PutItem without a condition: what every Audit writer's role may do (an overwrite)."""
    boto3.client("dynamodb").put_item(TableName=table(), Item=raw)


def delete(seq: int, account_id: str = ACCOUNT) -> None:
    boto3.client("dynamodb").delete_item(
        TableName=table(), Key={"pk": {"S": f"ACCT#{account_id}"}, "sk": {"S": store.event_sk(seq)}}
    )


def change(seq: int, attribute: str = "actor", value: str = "usr_attacker", account_id: str = ACCOUNT) -> None:
    """Overwrite one event with one attribute changed (hash and MAC left as they were)."""
    raw = item(seq, account_id)
    raw[attribute] = {"S": value}
    put(raw)


def _mac(message: bytes, key_id: str | None) -> str:
    if key_id is None:
        from switchboard.crypto import macs  # noqa: PLC0415

        return macs.generate(message)
    raw = boto3.client("kms").generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    return base64.b64encode(raw).decode()


def rechain(
    from_seq: int, *, key_id: str | None, account_id: str = ACCOUNT, edit: bool = True, actor: str = "usr_attacker"
) -> None:
    """Change event `from_seq` (when `edit`) and recompute every hash and MAC from there on, links included."""
    raws = sorted(items(account_id), key=lambda i: int(i["seq"]["N"]))
    previous: store.StoredEvent | None = None
    for raw in raws:
        event = store._stored(raw)
        if event.seq < from_seq:
            previous = event
            continue
        fields = dict(event.fields)
        if edit and event.seq == from_seq:
            fields["actor"] = actor
        prev_hash = previous.hash if previous else audit.GENESIS_HASH
        rebuilt = store.StoredEvent(
            seq=event.seq,
            prev_hash=prev_hash,
            hash=audit.chain_hash(account_id, event.seq, prev_hash, fields),
            fields=fields,
            prev_mac=previous.mac if previous else audit.GENESIS_MAC,
            prev_at=str(previous.fields.get("at", "")) if previous else "",
            expires_at=event.expires_at,
        )
        rebuilt = store.StoredEvent(**{**rebuilt.__dict__, "mac": _mac(audit.mac_message(account_id, rebuilt), key_id)})
        delete(event.seq, account_id)
        assert store.append(account_id, rebuilt)
        previous = rebuilt


def insert(at_seq: int, *, key_id: str | None = None, account_id: str = ACCOUNT) -> None:
    """Shift events `at_seq`.. one place up and put a forged event at `at_seq`, then re-link the chain after it
    (hashes and MACs recomputed with `key_id`: None is the real key, i.e. a writer's role)."""
    raws = sorted(items(account_id), key=lambda i: int(i["seq"]["N"]), reverse=True)
    for raw in raws:
        seq = int(raw["seq"]["N"])
        if seq >= at_seq:
            moved = {**raw, "seq": {"N": str(seq + 1)}, "sk": {"S": store.event_sk(seq + 1)}}
            put(moved)
    forged = {**item(at_seq + 1, account_id), "id": {"S": "evt_forged"}, "type": {"S": "member.removed"}}
    put({**forged, "seq": {"N": str(at_seq)}, "sk": {"S": store.event_sk(at_seq)}})
    rechain(at_seq, key_id=key_id, account_id=account_id, edit=False)


def attacker_key() -> str:
    """An HMAC key of the attacker's own (same algorithm, different material)."""
    created = boto3.client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    return str(created["KeyMetadata"]["KeyId"])

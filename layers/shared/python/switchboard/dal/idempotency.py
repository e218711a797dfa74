"""Idempotency records (`pk=ACCT#<id>`, `sk=IDEM#<sha256 of the key>`): a lock while in flight, then the response."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients

TABLE_ENV = "IDEMPOTENCY_TABLE"
TABLE_ID = "Idempotency"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"


@dataclass(frozen=True)
class Record:
    """What is stored under one key: who holds it, for which request, and (once completed) the sealed response."""

    status: str
    fingerprint: str
    lock_until_ms: int
    expires_at: int
    response: str | None  # sealed with the account's data key


def item_key(account_id: str, key: str) -> tuple[str, str]:
    """The record's key; the client's key is hashed so its length and characters never matter to DynamoDB."""
    return f"ACCT#{account_id}", f"IDEM#{hashlib.sha256(key.encode()).hexdigest()}"


def _table() -> str:
    return settings.get().table(TABLE_ENV)


def _record(item: dict[str, Any]) -> Record:
    return Record(
        status=item.get("status", {}).get("S", ""),
        fingerprint=item.get("fingerprint", {}).get("S", ""),
        lock_until_ms=int(item.get("lock_until_ms", {}).get("N", "0")),
        expires_at=int(item.get("expires_at", {}).get("N", "0")),
        response=item.get("response", {}).get("S"),
    )


def claim(
    key: tuple[str, str], *, fingerprint: str, token: str, now_ms: int, lock_until_ms: int, expires_at: int
) -> Record | None:
    """Take the key for this request: None when taken; else the record that holds it (one conditional PutItem).

    A record past `expires_at`, or a lock whose holder ran out of time (the function was killed), is taken over.
    """
    pk, sk = key
    try:
        clients.dynamodb().put_item(
            TableName=_table(),
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "status": {"S": IN_PROGRESS},
                "fingerprint": {"S": fingerprint},
                "lock_token": {"S": token},
                "lock_until_ms": {"N": str(lock_until_ms)},
                "expires_at": {"N": str(expires_at)},
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now_s"
            " OR (#status = :in_progress AND lock_until_ms < :now_ms)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now_s": {"N": str(now_ms // 1000)},
                ":now_ms": {"N": str(now_ms)},
                ":in_progress": {"S": IN_PROGRESS},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        return _record(cast(dict[str, Any], error.response).get("Item") or {})
    return None


def complete(
    key: tuple[str, str], *, fingerprint: str, token: str, status_code: int, response: str, expires_at: int
) -> bool:
    """Store the sealed response, if this request still holds the key (False when another took it over)."""
    pk, sk = key
    try:
        clients.dynamodb().put_item(
            TableName=_table(),
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "status": {"S": COMPLETED},
                "fingerprint": {"S": fingerprint},
                "status_code": {"N": str(status_code)},
                "response": {"S": response},
                "expires_at": {"N": str(expires_at)},
            },
            ConditionExpression="lock_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        return False
    return True


def release(key: tuple[str, str], *, token: str) -> bool:
    """Drop this request's lock so a retry runs again (False when another request took it over meanwhile)."""
    pk, sk = key
    try:
        clients.dynamodb().delete_item(
            TableName=_table(),
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConditionExpression="lock_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        return False
    return True

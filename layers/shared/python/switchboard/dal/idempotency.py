"""Idempotency records (`pk=ACCT#<id>`, `sk=IDEM#<sha256 of the key>`, schema `IdempotencyItem`): a lock while in
flight, then the response."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.crypto import envelope
from switchboard.dal import clients
from switchboard.dal.keys import account_pk
from switchboard.dal.schema import Schema

TABLE_ENV = catalog.table("Idempotency").env
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


@dataclass(frozen=True)
class IdempotencyItem(Schema):
    """The stored item: a lock (`lock_token`, `lock_until_ms`) while in flight, then the response and its status."""

    pk: str = ""
    sk: str = ""
    status: str = ""
    fingerprint: str = ""
    lock_token: str | None = None
    lock_until_ms: int = 0
    status_code: int | None = None
    response: str | None = None
    expires_at: int = 0

    def record(self) -> Record:
        """What callers see of it."""
        return Record(
            status=self.status,
            fingerprint=self.fingerprint,
            lock_until_ms=self.lock_until_ms,
            expires_at=self.expires_at,
            response=self.response,
        )


@dataclass(frozen=True)
class Slot:
    """One account's Idempotency-Key as stored: the client's key hashed, so its length and characters never matter
    to DynamoDB."""

    account_id: str
    digest: str


def slot(account_id: str, key: str) -> Slot:
    """Where the account's `key` is kept."""
    return Slot(account_id=account_id, digest=hashlib.sha256(key.encode()).hexdigest())


def _key(place: Slot) -> tuple[str, str]:
    return account_pk(place.account_id), f"IDEM#{place.digest}"


def _sealed_to(place: Slot) -> dict[str, str]:
    """What a stored response is sealed to: this table, this record's key, the `response` field."""
    pk, sk = _key(place)
    return {"table": TABLE_ID, "item_key": f"{pk}|{sk}", "field": "response"}


def seal_response(place: Slot, document: str) -> str:
    """A response sealed with the account's data key to this record (it opens nowhere else); KeyShredded once the
    account is being deleted."""
    return envelope.seal(place.account_id, document, **_sealed_to(place))


def open_response(place: Slot, sealed: str) -> str:
    """A response `seal_response` sealed for this record."""
    return envelope.open_sealed(place.account_id, sealed, **_sealed_to(place))


def _table() -> str:
    return settings.get().table(TABLE_ENV)


def _record(item: dict[str, Any]) -> Record:
    return IdempotencyItem.from_item(item).record()


def claim(
    place: Slot, *, fingerprint: str, token: str, now_ms: int, lock_until_ms: int, expires_at: int
) -> Record | None:
    """Take the key for this request: None when taken; else the record that holds it (one conditional PutItem).

    A record past `expires_at`, or a lock whose holder ran out of time (the function was killed), is taken over.
    """
    held = _put_if(
        IdempotencyItem(
            *_key(place),
            status=IN_PROGRESS,
            fingerprint=fingerprint,
            lock_token=token,
            lock_until_ms=lock_until_ms,
            expires_at=expires_at,
        ),
        ConditionExpression="attribute_not_exists(pk) OR expires_at < :now_s"
        " OR (#status = :in_progress AND lock_until_ms < :now_ms)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":now_s": {"N": str(now_ms // 1000)},
            ":now_ms": {"N": str(now_ms)},
            ":in_progress": {"S": IN_PROGRESS},
        },
    )
    return None if held is None else _record(held)


def complete(place: Slot, *, fingerprint: str, token: str, status_code: int, response: str, expires_at: int) -> bool:
    """Store the sealed response, if this request still holds the key (False when another took it over)."""
    item = IdempotencyItem(
        *_key(place),
        status=COMPLETED,
        fingerprint=fingerprint,
        status_code=status_code,
        response=response,
        expires_at=expires_at,
    )
    held = _put_if(item, ConditionExpression="lock_token = :token", ExpressionAttributeValues={":token": {"S": token}})
    return held is None


def _put_if(item: IdempotencyItem, **condition: Any) -> dict[str, Any] | None:
    """Put `item` if `condition` holds: None when it is written, else the item that stays (one PutItem)."""
    try:
        clients.dynamodb().put_item(
            TableName=_table(), Item=item.to_item(), ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        return cast(dict[str, Any], error.response).get("Item") or {}
    return None


def release(place: Slot, *, token: str) -> bool:
    """Drop this request's lock so a retry runs again (False when another request took it over meanwhile)."""
    pk, sk = _key(place)
    try:
        clients.dynamodb().delete_item(
            TableName=_table(),
            Key=IdempotencyItem(pk, sk).key(),
            ConditionExpression="lock_token = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        return False
    return True

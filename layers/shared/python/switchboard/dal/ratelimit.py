"""Rate-limit and pacing buckets in the Limits table (`pk=ACCT#<id>`, `sk=RATE#…` or `PACE#…`, schema
`RateBucketItem`): one conditional UpdateItem per attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.keys import account_pk
from switchboard.dal.schema import Schema

TABLE_ENV = catalog.table("Limits").env


@dataclass(frozen=True)
class RateBucketItem(Schema):
    """One GCRA bucket: its theoretical arrival time (`tat`, microseconds; absent until first used) and its TTL."""

    pk: str = ""
    sk: str = ""
    tat: int | None = None
    expires_at: int = 0


@dataclass(frozen=True)
class Attempt:
    """Whether the conditional update applied; `tat` is the new value if so, else the stored one (None: none)."""

    applied: bool
    tat: int | None


def account_bucket(account_id: str) -> tuple[str, str]:
    """The key of the account-wide bucket."""
    return account_pk(account_id), "RATE#ACCOUNT"


def key_bucket(account_id: str, key_id: str) -> tuple[str, str]:
    """The key of one API key's bucket, under its account."""
    return account_pk(account_id), f"RATE#KEY#{key_id}"


def sender_bucket(account_id: str, carrier: str, sender: str) -> tuple[str, str]:
    """The key of one sender number's pacing bucket on one carrier (the number is the account's own, not personal
    data)."""
    return account_pk(account_id), f"PACE#{carrier}#{sender}"


def _update(bucket: tuple[str, str], *, expression: str, condition: str, values: dict[str, Any]) -> Attempt:
    pk, sk = bucket
    try:
        response = clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key=RateBucketItem(pk, sk).key(),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
            ReturnValues="UPDATED_NEW",
            # A refusal returns the stored item, so the caller decides without another read.
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise
        stored = RateBucketItem.from_item(cast(dict[str, Any], error.response).get("Item") or {})
        return Attempt(applied=False, tat=stored.tat)
    return Attempt(applied=True, tat=RateBucketItem.from_item(response["Attributes"]).tat)


def advance_busy(
    bucket: tuple[str, str], *, interval_us: int, now_us: int, max_tat_us: int, expires_at: int
) -> Attempt:
    """A bucket already in use (now <= tat <= max): tat += interval. Additive, so concurrent callers never clash."""
    return _update(
        bucket,
        expression="SET tat = tat + :interval, expires_at = :expires",
        condition="tat BETWEEN :now AND :max",
        values={":interval": interval_us, ":now": now_us, ":max": max_tat_us, ":expires": expires_at},
    )


def start_idle(bucket: tuple[str, str], *, new_tat_us: int, now_us: int, expires_at: int) -> Attempt:
    """A full bucket (no tat, or tat in the past): tat = now + interval."""
    return _update(
        bucket,
        expression="SET tat = :tat, expires_at = :expires",
        condition="attribute_not_exists(tat) OR tat < :now",
        values={":tat": new_tat_us, ":now": now_us, ":expires": expires_at},
    )

"""Daily message counters per account in the Limits table (`pk=ACCT#<id>`, `sk=QUOTA#MSG#<day>`, schema `QuotaItem`)."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.keys import account_pk
from switchboard.dal.schema import Schema

TABLE_ENV = catalog.table("Limits").env


@dataclass(frozen=True)
class QuotaItem(Schema):
    """Messages counted on one day (`used`), kept until `expires_at`."""

    pk: str = ""
    sk: str = ""
    used: int = 0
    expires_at: int = 0


def quota_key(account_id: str, day: str) -> tuple[str, str]:
    """The key of one account's counter for one day."""
    return account_pk(account_id), f"QUOTA#MSG#{day}"


def add_within(pk: str, sk: str, attribute: str, count: int, *, limit: int, expires_at: int) -> bool:
    """ADD `count` to one Limits counter unless that passes `limit` (one conditional UpdateItem); False when refused."""
    if count > limit:
        return False
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key=QuotaItem(pk, sk).key(),
            UpdateExpression="ADD #n :count SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(#n) OR #n <= :room",
            ExpressionAttributeNames={"#n": attribute},
            ExpressionAttributeValues={
                ":count": {"N": str(count)},
                ":room": {"N": str(limit - count)},
                ":expires": {"N": str(expires_at)},
            },
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def take(account_id: str, day: str, count: int, *, limit: int, expires_at: int) -> bool:
    """Count `count` more messages today, atomically; False (and nothing counted) when that would pass `limit`."""
    return add_within(*quota_key(account_id, day), "used", count, limit=limit, expires_at=expires_at)


def give_back(account_id: str, day: str, count: int) -> None:
    """Uncount `count` messages of `day` that were charged but not stored (one atomic ADD of -count)."""
    clients.dynamodb().update_item(
        TableName=settings.get().table(TABLE_ENV),
        Key=QuotaItem(*quota_key(account_id, day)).key(),
        UpdateExpression="ADD used :minus",
        # Only a counter that exists: a refund never creates one (without its expiry) or goes below zero.
        ConditionExpression="used >= :count",
        ExpressionAttributeValues={":minus": {"N": str(-count)}, ":count": {"N": str(count)}},
    )

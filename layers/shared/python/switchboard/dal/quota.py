"""Daily message counters per account in the Limits table (`pk=ACCT#<id>`, `sk=QUOTA#MSG#<day>`)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients

TABLE_ENV = "LIMITS_TABLE"


def add_within(pk: str, sk: str, attribute: str, count: int, *, limit: int, expires_at: int) -> bool:
    """ADD `count` to one Limits counter unless that passes `limit` (one conditional UpdateItem); False when refused."""
    if count > limit:
        return False
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
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


def _key(account_id: str, day: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"ACCT#{account_id}"}, "sk": {"S": f"QUOTA#MSG#{day}"}}


def take(account_id: str, day: str, count: int, *, limit: int, expires_at: int) -> bool:
    """Count `count` more messages today, atomically; False (and nothing counted) when that would pass `limit`."""
    return add_within(f"ACCT#{account_id}", f"QUOTA#MSG#{day}", "used", count, limit=limit, expires_at=expires_at)


def give_back(account_id: str, day: str, count: int) -> None:
    """Uncount `count` messages of `day` that were charged but not stored (one atomic ADD of -count)."""
    clients.dynamodb().update_item(
        TableName=settings.get().table(TABLE_ENV),
        Key=_key(account_id, day),
        UpdateExpression="ADD used :minus",
        # Only a counter that exists: a refund never creates one (without its expiry) or goes below zero.
        ConditionExpression="used >= :count",
        ExpressionAttributeValues={":minus": {"N": str(-count)}, ":count": {"N": str(count)}},
    )

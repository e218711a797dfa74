"""Daily message counters per account in the Limits table (`pk=ACCT#<id>`, `sk=QUOTA#MSG#<day>`)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients

TABLE_ENV = "LIMITS_TABLE"


def take(account_id: str, day: str, count: int, *, limit: int, expires_at: int) -> bool:
    """Count `count` more messages today, atomically; False (and nothing counted) when that would pass `limit`."""
    if count > limit:
        return False
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key={"pk": {"S": f"ACCT#{account_id}"}, "sk": {"S": f"QUOTA#MSG#{day}"}},
            UpdateExpression="ADD used :count SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(used) OR used <= :room",
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

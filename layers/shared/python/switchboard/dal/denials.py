"""Per-actor caps on denied audit events in the Limits table: `pk=ACCT#<id>`, `sk=DENIED#<actor>#<minute>`."""

from __future__ import annotations

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients

TABLE_ENV = "LIMITS_TABLE"


def take(account_id: str, actor: str, *, minute: int, limit: int, expires_at: int) -> bool:
    """Count one denied event of `actor` in `minute`; False once `limit` were already counted (one UpdateItem)."""
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(TABLE_ENV),
            Key={"pk": {"S": f"ACCT#{account_id}"}, "sk": {"S": f"DENIED#{actor}#{minute}"}},
            UpdateExpression="ADD n :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(n) OR n < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(expires_at)},
            },
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True

"""Signed deletion receipts (R61) on the `RECEIPT#<id>` / `RECEIPT` item of the Accounts table (dal.closure)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from switchboard import settings
from switchboard.dal import clients
from switchboard.dal.closure import ACCOUNTS_ENV, RECEIPT_SK, receipt_pk

SIGNED = "signed"  # the attribute: the signed receipt as JSON ({receipt, signature, algorithm, key_id})


def _key(account_id: str) -> dict[str, Any]:
    return {"pk": {"S": receipt_pk(account_id)}, "sk": {"S": RECEIPT_SK}}


def store(account_id: str, signed: dict[str, str]) -> None:
    """Attach the signed receipt to the account's receipt item (a completed purge)."""
    clients.dynamodb().update_item(
        TableName=settings.get().table(ACCOUNTS_ENV),
        Key=_key(account_id),
        UpdateExpression="SET #signed = :signed",
        ExpressionAttributeNames={"#signed": SIGNED},
        ExpressionAttributeValues={":signed": {"S": json.dumps(signed)}},
    )


def restore(account_id: str, signed: dict[str, str]) -> bool:
    """Put the receipt item back from the deletion log (a table restored from before the purge); False if present."""
    document = json.loads(signed["receipt"])
    item: dict[str, Any] = {
        **_key(account_id),
        "account_id": {"S": account_id},
        SIGNED: {"S": json.dumps(signed)},
        **{k: {"N": str(document[k])} for k in ("requested_at", "purge_after", "started_at", "purged_at", "runs")},
        "deleted": {"M": {table: {"N": str(n)} for table, n in document["deleted"].items()}},
    }
    try:
        clients.dynamodb().put_item(
            TableName=settings.get().table(ACCOUNTS_ENV),
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR attribute_not_exists(#signed)",
            ExpressionAttributeNames={"#signed": SIGNED},
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def signed(account_id: str) -> dict[str, str] | None:
    """The signed receipt of a purged account, or None (unknown, not purged, or not yet complete)."""
    response = clients.dynamodb().get_item(
        TableName=settings.get().table(ACCOUNTS_ENV),
        Key=_key(account_id),
        ProjectionExpression="#signed",
        ExpressionAttributeNames={"#signed": SIGNED},
        ConsistentRead=True,
    )
    value = response.get("Item", {}).get(SIGNED, {}).get("S")
    return json.loads(value) if value else None

"""Finds and hard-deletes expired items; each delete re-checks expiry so an item refreshed meanwhile survives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from switchboard.dal import clients

TTL_ATTRIBUTE = "expires_at"


def expired_keys(table_name: str, now_s: int) -> Iterator[dict[str, Any]]:
    """Keys of items whose `expires_at` (epoch seconds) is in the past, page by page."""
    paginator = clients.dynamodb().get_paginator("scan")
    pages = paginator.paginate(
        TableName=table_name,
        FilterExpression="#ttl < :now",
        ProjectionExpression="pk, sk",
        ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
        ExpressionAttributeValues={":now": {"N": str(now_s)}},
    )
    for page in pages:
        yield from page.get("Items", [])


def delete_if_expired(table_name: str, key: dict[str, Any], now_s: int) -> bool:
    """Delete one item only if it is still expired; False when it was refreshed or already gone."""
    try:
        clients.dynamodb().delete_item(
            TableName=table_name,
            Key=key,
            ConditionExpression="#ttl < :now",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":now": {"N": str(now_s)}},
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True

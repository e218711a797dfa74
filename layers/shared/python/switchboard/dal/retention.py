"""R60 message retention: each account's setting (on its account item) and its messages older than that.

Message and inbound ids are time-sortable (switchboard.ids), so "older than" is one key-range Query on the
account's partition (`MSG#msg_…` / `INB#inb_…` below the first id of the cutoff time), never a scan of messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from switchboard import catalog, ids, settings
from switchboard.dal import clients
from switchboard.dal.accounts import ACCOUNT_SK
from switchboard.dal.keys import account_pk
from switchboard.models.account import RETENTION_DAYS_DEFAULT

ACCOUNTS_ENV = catalog.table("Accounts").env
MESSAGING_ENV = catalog.table("Messaging").env
ATTRIBUTE = "message_retention_days"
DEFAULT_DAYS = RETENTION_DAYS_DEFAULT  # R60: 13 months, also the most an account may keep (it may only shorten it)
# (sort-key prefix, id prefix) of what retention deletes: sent messages and inbound messages.
SWEPT = (("MSG#", "msg"), ("INB#", "inb"))


@dataclass(frozen=True)
class Setting:
    """One account's retention."""

    account_id: str
    days: int


def accounts() -> Iterator[Setting]:
    """Every account and its retention (a Scan of account items only, projected to two attributes)."""
    paginator = clients.dynamodb().get_paginator("scan")
    pages = paginator.paginate(
        TableName=settings.get().table(ACCOUNTS_ENV),
        FilterExpression="sk = :account",
        ProjectionExpression="pk, #days",
        ExpressionAttributeNames={"#days": ATTRIBUTE},
        ExpressionAttributeValues={":account": {"S": ACCOUNT_SK}},
    )
    for page in pages:
        for item in page.get("Items", []):
            days = int(item.get(ATTRIBUTE, {}).get("N", DEFAULT_DAYS))
            yield Setting(item["pk"]["S"].removeprefix("ACCT#"), days)


def set_days(account_id: str, days: int) -> bool:
    """Store an account's retention; False when the account does not exist."""
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(ACCOUNTS_ENV),
            Key={"pk": {"S": account_pk(account_id)}, "sk": {"S": ACCOUNT_SK}},
            UpdateExpression="SET #days = :days",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#days": ATTRIBUTE},
            ExpressionAttributeValues={":days": {"N": str(days)}},
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def set_record_calls(account_id: str, on: bool) -> bool:
    """Store whether the account's voice calls are recorded by default; False when the account does not exist."""
    try:
        clients.dynamodb().update_item(
            TableName=settings.get().table(ACCOUNTS_ENV),
            Key={"pk": {"S": account_pk(account_id)}, "sk": {"S": ACCOUNT_SK}},
            UpdateExpression="SET record_calls = :on",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":on": {"BOOL": on}},
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def expired(account_id: str, cutoff_s: int) -> Iterator[dict[str, Any]]:
    """Messages and inbound messages of the account made before `cutoff_s` (raw items, page by page)."""
    for sk_prefix, id_prefix in SWEPT:
        paginator = clients.dynamodb().get_paginator("query")
        pages = paginator.paginate(
            TableName=settings.get().table(MESSAGING_ENV),
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": account_pk(account_id)},
                ":low": {"S": f"{sk_prefix}{id_prefix}_"},
                # BETWEEN is inclusive: the first possible id at the cutoff is never made before it.
                ":high": {"S": f"{sk_prefix}{ids.first_id_at(id_prefix, cutoff_s)}"},
            },
            ConsistentRead=True,
        )
        for page in pages:
            yield from page.get("Items", [])


def attempts(account_id: str, message_id: str) -> Iterator[dict[str, Any]]:
    """The attempt items of one message (`ATT#<message_id>#<carrier>`)."""
    paginator = clients.dynamodb().get_paginator("query")
    pages = paginator.paginate(
        TableName=settings.get().table(MESSAGING_ENV),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :att)",
        ExpressionAttributeValues={":pk": {"S": account_pk(account_id)}, ":att": {"S": f"ATT#{message_id}#"}},
        ConsistentRead=True,
    )
    for page in pages:
        yield from page.get("Items", [])

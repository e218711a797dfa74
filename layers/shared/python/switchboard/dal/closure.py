"""Account closure: the pending-deletion flag, the `PURGE#DUE` index, deletion receipts and an account's items.

Global items written here (documented exceptions to "every key starts with `ACCT#<id>`"), all in the Accounts table:
`PURGE#DUE` / `<purge_after:012d>#<account_id>` (one per account pending deletion, so the purge finds due accounts
with one Query instead of a scan) and `RECEIPT#<account_id>` / `RECEIPT` (the deletion receipt that outlives the
account: ids, times and counts only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients, messaging_table
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.accounts import ACCOUNT_SK, EMAIL_SK, NUMBER_SK
from switchboard.dal.accounts import item_key as accounts_item_key
from switchboard.dal.api_keys import LOOKUP_SK
from switchboard.dal.keys import account_pk
from switchboard.dal.members import INVITE_PREFIX, INVITE_TOKEN_SK, USER_PREFIX
from switchboard.dal.recipients import tombstone_sk
from switchboard.dal.sessions import token_pk
from switchboard.dal.throttle import SK as THROTTLE_SK
from switchboard.dal.throttle import email_key as throttle_email_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ACCOUNTS_ENV = catalog.table("Accounts").env
SESSIONS_ENV = catalog.table("Sessions").env
LIMITS_ENV = catalog.table("Limits").env
MESSAGING_ENV = catalog.table("Messaging").env
DUE_PK = "PURGE#DUE"
RECEIPT_SK = "RECEIPT"
PENDING = "pending_deletion"
ACTIVE = "active"
QUERY_PAGE = 100


# Items an account purge keeps, by table env and sort-key prefix: messaging's opt-out tombstones (a blind index of a
# shredded key: they identify nobody).
KEEP: dict[str, tuple[str, ...]] = {MESSAGING_ENV: (tombstone_sk(""),)}


def receipt_pk(account_id: str) -> str:
    """Global: the deletion receipt of a purged account."""
    return f"RECEIPT#{account_id}"


def due_sk(purge_after: int, account_id: str) -> str:
    """Sorted by purge time, so the due ones are one key-range Query."""
    return f"{purge_after:012d}#{account_id}"


def _accounts() -> str:
    return settings.get().table(ACCOUNTS_ENV)


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain JSON-friendly values (the Messaging table's codec serves every table)."""
    return messaging_table.load(item)


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    """The primary key (attribute values) of a raw item."""
    return {"pk": item["pk"], "sk": item["sk"]}


def sealing_key(item: dict[str, Any]) -> str:
    """The envelope binding (`pk|sk`) of a plain item of any table: what its sealed values were sealed to."""
    return accounts_item_key(str(item["pk"]), str(item["sk"]))


def storage_attribute(name: str) -> bool:
    """An attribute that only places the item (partition key, index keys), never the customer's data."""
    return name == "pk" or name.startswith("gsi")


class PartitionItem:
    """One item of an account's partition: its primary key (opaque: hand it back to `delete`) and its values."""

    def __init__(self, table_env: str, raw: dict[str, Any]) -> None:
        self.table_env = table_env
        self.key = key_of(raw)
        self._raw = raw
        self._values: dict[str, Any] | None = None

    @property
    def values(self) -> dict[str, Any]:
        """The item as plain values (decoded on first use)."""
        if self._values is None:
            self._values = plain(self._raw)
        return self._values

    @property
    def _sk(self) -> str:
        return str(self._raw["sk"]["S"])

    @property
    def is_account(self) -> bool:
        """The account item (deleted last: it marks the purge unfinished)."""
        return self.table_env == ACCOUNTS_ENV and self._sk == ACCOUNT_SK

    @property
    def is_user(self) -> bool:
        """A user of the account (its sessions are global items, found through the Sessions index)."""
        return self.table_env == ACCOUNTS_ENV and self._sk.startswith(USER_PREFIX)

    @property
    def kept(self) -> bool:
        """An item a purge keeps (an opt-out tombstone)."""
        keep = KEEP.get(self.table_env, ())
        return bool(keep) and self._sk.startswith(keep)

    def lookups(self) -> list[Lookup]:
        """The global items this one implies."""
        return lookups_of(self.table_env, self.values)


def account_items(table_env: str, table_name: str, account_id: str) -> Iterator[PartitionItem]:
    """Every item in the account's partition of one table, page by page."""
    for raw in partition(table_name, account_id):
        yield PartitionItem(table_env, raw)


# Closure's two status changes of an account item, (update, condition): both use :pending, :active, :purge and :now
# (DynamoDB refuses a value that an expression does not use).
_TO_PENDING = ("SET #status = :pending, purge_after = :purge, deletion_requested_at = :now", "#status = :active")
_TO_ACTIVE = (
    "SET #status = :active REMOVE purge_after, deletion_requested_at",
    "#status = :pending AND purge_after = :purge AND purge_after > :now",
)


def mark_pending(account_id: str, *, now: int, purge_after: int) -> bool:
    """Active → pending_deletion with its purge time, and the `PURGE#DUE` entry, at once; False unless active."""
    entry = {
        "pk": {"S": DUE_PK},
        "sk": {"S": due_sk(purge_after, account_id)},
        "account_id": {"S": account_id},
        "purge_after": {"N": str(purge_after)},
        "requested_at": {"N": str(now)},
    }
    return _change_status(account_id, _TO_PENDING, purge_after, now, {"Put": {"TableName": _accounts(), "Item": entry}})


def mark_active(account_id: str, *, purge_after: int, now: int) -> bool:
    """Pending (and not yet due) → active, and its `PURGE#DUE` entry gone, at once; False when that no longer holds."""
    key = {"pk": {"S": DUE_PK}, "sk": {"S": due_sk(purge_after, account_id)}}
    return _change_status(account_id, _TO_ACTIVE, purge_after, now, {"Delete": {"TableName": _accounts(), "Key": key}})


def _change_status(
    account_id: str, change: tuple[str, str], purge_after: int, now: int, due: TransactWriteItemTypeDef
) -> bool:
    """A status change of the account item and the write of its `PURGE#DUE` entry, in one transaction; False when
    the change's condition no longer holds."""
    update, condition = change
    try:
        clients.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": _accounts(),
                        "Key": {"pk": {"S": account_pk(account_id)}, "sk": {"S": ACCOUNT_SK}},
                        "UpdateExpression": update,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {
                            ":pending": {"S": PENDING},
                            ":active": {"S": ACTIVE},
                            ":purge": {"N": str(purge_after)},
                            ":now": {"N": str(now)},
                        },
                    }
                },
                due,
            ]
        )
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


@dataclass(frozen=True)
class Due:
    """An account whose purge time has come."""

    account_id: str
    purge_after: int
    requested_at: int


def due_accounts(now: int, *, limit: int) -> list[Due]:
    """Accounts pending deletion with `purge_after <= now`, earliest first (one Query on `PURGE#DUE`)."""
    response = clients.dynamodb().query(
        TableName=_accounts(),
        KeyConditionExpression="pk = :pk AND sk <= :until",
        ExpressionAttributeValues={":pk": {"S": DUE_PK}, ":until": {"S": f"{now:012d}~"}},
        ConsistentRead=True,
        Limit=limit,
    )
    return [
        Due(
            account_id=item["account_id"]["S"],
            purge_after=int(item["purge_after"]["N"]),
            requested_at=int(item.get("requested_at", {}).get("N", "0")),
        )
        for item in response.get("Items", [])
    ]


def forget_due(account_id: str, purge_after: int) -> None:
    """Remove the account's `PURGE#DUE` entry (its purge is complete)."""
    clients.dynamodb().delete_item(
        TableName=_accounts(), Key={"pk": {"S": DUE_PK}, "sk": {"S": due_sk(purge_after, account_id)}}
    )


def partition(table_name: str, account_id: str, *, start: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item (raw attribute values) in the account's partition of one table, page by page."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": account_pk(account_id)}},
        "ConsistentRead": True,
        "Limit": QUERY_PAGE,
    }
    if start:
        request["ExclusiveStartKey"] = start
    while True:
        response = clients.dynamodb().query(**request)
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def index_keys(table_name: str, index: str, partition_key: str, value: str) -> Iterator[dict[str, Any]]:
    """Primary keys of the items an index lists under one partition value."""
    paginator = clients.dynamodb().get_paginator("query")
    pages = paginator.paginate(
        TableName=table_name,
        IndexName=index,
        KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": partition_key},
        ExpressionAttributeValues={":v": {"S": value}},
        ProjectionExpression="pk, sk",
    )
    for page in pages:
        yield from ({"pk": i["pk"], "sk": i["sk"]} for i in page.get("Items", []))


def delete(table_name: str, key: dict[str, Any], *, owned_by: str | None = None) -> bool:
    """Delete one item; with `owned_by`, only while its `account_id` is that account. False when nothing went."""
    request: dict[str, Any] = {"TableName": table_name, "Key": key, "ReturnValues": "ALL_OLD"}
    if owned_by is not None:
        request["ConditionExpression"] = "account_id = :owner"
        request["ExpressionAttributeValues"] = {":owner": {"S": owned_by}}
    try:
        response = clients.dynamodb().delete_item(**request)
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return bool(response.get("Attributes"))


def open_receipt(due: Due, *, started_at: int) -> None:
    """Create the account's deletion receipt on the first purge run (a resumed run keeps the first one)."""
    try:
        clients.dynamodb().put_item(
            TableName=_accounts(),
            Item={
                "pk": {"S": receipt_pk(due.account_id)},
                "sk": {"S": RECEIPT_SK},
                "account_id": {"S": due.account_id},
                "requested_at": {"N": str(due.requested_at)},
                "purge_after": {"N": str(due.purge_after)},
                "started_at": {"N": str(started_at)},
                "runs": {"N": "0"},
                "deleted": {"M": {}},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if not clients.conditional_failed(error):
            raise


def add_to_receipt(account_id: str, counts: dict[str, int], *, purged_at: int | None) -> None:
    """Add one run's deletions per table to the receipt; `purged_at` once the account is completely gone."""
    # DynamoDB refuses a name or value the expression does not use (a run that stopped before deleting anything).
    names: dict[str, str] = {"#deleted": "deleted"} if counts else {}
    values: dict[str, Any] = {":one": {"N": "1"}, **({":zero": {"N": "0"}} if counts else {})}
    sets = ["runs = runs + :one"]
    # ADD works on top-level attributes only: nested counters add with if_not_exists (open_receipt made the map).
    for n, (table_env, count) in enumerate(sorted(counts.items())):
        names[f"#t{n}"] = table_env
        values[f":c{n}"] = {"N": str(count)}
        sets.append(f"#deleted.#t{n} = if_not_exists(#deleted.#t{n}, :zero) + :c{n}")
    if purged_at is not None:
        sets.append("purged_at = :purged")
        values[":purged"] = {"N": str(purged_at)}
    expression = "SET " + ", ".join(sets)
    request: dict[str, Any] = {
        "TableName": _accounts(),
        "Key": {"pk": {"S": receipt_pk(account_id)}, "sk": {"S": RECEIPT_SK}},
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    clients.dynamodb().update_item(**request)


def get_receipt(account_id: str) -> dict[str, Any] | None:
    """The deletion receipt of a purged (or being purged) account, or None."""
    response = clients.dynamodb().get_item(
        TableName=_accounts(),
        Key={"pk": {"S": receipt_pk(account_id)}, "sk": {"S": RECEIPT_SK}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return plain(item) if item else None


@dataclass(frozen=True)
class Lookup:
    """A global item that points at the account (found through one of the account's own items)."""

    table_env: str
    pk: str
    sk: str
    owned: bool = True  # it carries `account_id`: deleted only while it names this account

    @property
    def key(self) -> dict[str, Any]:
        """Its primary key (attribute values), for `delete`."""
        return {"pk": {"S": self.pk}, "sk": {"S": self.sk}}


def lookups_of(table_env: str, item: dict[str, Any]) -> list[Lookup]:
    """The global items an account item implies (a plain item from the account's partition of `table_env`)."""
    sk = str(item.get("sk", ""))
    found: list[Lookup] = []
    if table_env == ACCOUNTS_ENV and sk == ACCOUNT_SK:
        found += [Lookup(ACCOUNTS_ENV, f"NUMBER#{s['number']}", NUMBER_SK) for s in item.get("senders") or []]
    elif table_env == ACCOUNTS_ENV and sk.startswith(USER_PREFIX):
        found.append(Lookup(ACCOUNTS_ENV, f"EMAIL#{item['email_index']}", EMAIL_SK))
        # The login throttle of the address (keyed by its blind index, no account id on it): logic/throttle.py.
        found.append(Lookup(LIMITS_ENV, throttle_email_key(str(item["email_index"])), THROTTLE_SK, owned=False))
        if item.get("reset_digest"):
            found.append(Lookup(SESSIONS_ENV, token_pk(str(item["reset_digest"])), "RESET"))
    elif table_env == ACCOUNTS_ENV and sk.startswith(INVITE_PREFIX):
        found.append(Lookup(SESSIONS_ENV, token_pk(str(item["token_digest"])), INVITE_TOKEN_SK))
    elif table_env == ACCOUNTS_ENV and sk.startswith("APIKEY#"):
        found.append(Lookup(ACCOUNTS_ENV, f"KEYID#{item['key_id']}", LOOKUP_SK))
    if table_env == MESSAGING_ENV and item.get("carrier") and item.get("carrier_message_id"):
        # Messaging's carrier-id lookup (`CMSG#<carrier>#<id>`), named by each accepted attempt.
        found.append(Lookup(MESSAGING_ENV, f"CMSG#{item['carrier']}#{item['carrier_message_id']}", "CMSG"))
    return found


def user_session_keys(account_id: str, user_id: str) -> Iterator[dict[str, Any]]:
    """Keys of a user's sessions (global `TOKEN#<digest>` items), through the Sessions table's gsi1."""
    return index_keys(
        settings.get().table(SESSIONS_ENV), "gsi1", "gsi1pk", sessions_dal.user_sessions_key(account_id, user_id)
    )

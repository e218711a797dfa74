"""The Audit table: `pk=ACCT#<id>`, `sk=EVT#<seq>`, one chained event per item (schema `AuditEventItem`); only
conditional PutItem, Query and the anchor job's Scan, ever."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.dal.keys import ACCOUNT_PREFIX, account_of, account_pk
from switchboard.dal.schema import Schema, decode, encode

TABLE_ENV = catalog.table("Audit").env
SEQ_DIGITS = 12
SK_PREFIX = "EVT#"


@dataclass(frozen=True)
class StoredEvent:
    """One stored event: its place in the chain and its fields as plain values (str, int, bool, dict)."""

    seq: int
    prev_hash: str
    hash: str
    fields: dict[str, Any]
    mac: str = ""  # "" on events written before the keyed chain (see logic/audit.py)
    prev_mac: str = ""
    prev_at: str = ""  # the predecessor's time: when it expires, a gap before this event is its TTL, not tampering
    expires_at: int = 0  # DynamoDB TTL (epoch seconds)

    def chain(self) -> dict[str, Any]:
        """The chain attributes as stored (no table keys), for the archive."""
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "mac": self.mac,
            "prev_mac": self.prev_mac,
            "prev_at": self.prev_at,
            "expires_at": self.expires_at,
        }


def event_sk(seq: int) -> str:
    """The sort key of event number `seq`: zero-padded, so string order is sequence order."""
    return f"{SK_PREFIX}{seq:0{SEQ_DIGITS}d}"


def in_place(place: str, seq: int) -> bool:
    """Whether an event read from `place` (its sort key, as `oldest_first` yields it) is stored as number `seq`."""
    return place == event_sk(seq)


def _table() -> str:
    return settings.get().table(TABLE_ENV)


@dataclass(frozen=True)
class AuditEventItem(Schema):
    """The chain attributes of a stored event; every other attribute of the item is one of the event's fields."""

    pk: str = ""
    sk: str = ""
    seq: int = -1  # -1: not a number (a damaged item, which verification reports)
    prev_hash: str = ""
    hash: str = ""
    mac: str = ""
    prev_mac: str = ""
    prev_at: str = ""
    expires_at: int = 0


CHAIN_ATTRIBUTES = tuple(field.name for field in fields(AuditEventItem))


def _stored(item: dict[str, Any]) -> StoredEvent:
    chain = AuditEventItem.from_item(item)
    return StoredEvent(
        seq=chain.seq,
        prev_hash=chain.prev_hash,
        hash=chain.hash,
        fields={name: decode(attr) for name, attr in item.items() if name not in CHAIN_ATTRIBUTES},
        mac=chain.mac,
        prev_mac=chain.prev_mac,
        prev_at=chain.prev_at,
        expires_at=chain.expires_at,
    )


def head(account_id: str) -> StoredEvent | None:
    """The account's newest event (one strongly consistent Query), or None for an empty trail."""
    response = clients.dynamodb().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
        ExpressionAttributeValues={":pk": {"S": account_pk(account_id)}, ":evt": {"S": SK_PREFIX}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    items = response.get("Items", [])
    return _stored(items[0]) if items else None


def append(account_id: str, event: StoredEvent) -> bool:
    """Store the event unless its number is taken; False means another writer got there first.

    The condition is what every writer asks for, not what IAM can enforce (no DynamoDB condition key says
    "attribute_not_exists"): a role that can PutItem could overwrite. The MAC chain and the anchors make that
    detectable (logic/audit.verify).
    """
    item = {name: encode(value) for name, value in event.fields.items()}
    item.update(
        AuditEventItem(
            pk=account_pk(account_id),
            sk=event_sk(event.seq),
            seq=event.seq,
            prev_hash=event.prev_hash,
            hash=event.hash,
            mac=event.mac,
            prev_mac=event.prev_mac,
            prev_at=event.prev_at,
            expires_at=event.expires_at,
        ).to_item()
    )
    try:
        clients.dynamodb().put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as error:
        if clients.conditional_failed(error):
            return False
        raise
    return True


def newest_first(account_id: str, *, limit: int, before_seq: int | None = None) -> list[StoredEvent]:
    """Up to `limit` events, newest first, optionally only those older than `before_seq`."""
    kwargs: dict[str, Any] = {}
    if before_seq is not None:
        kwargs["ExclusiveStartKey"] = {"pk": {"S": account_pk(account_id)}, "sk": {"S": event_sk(before_seq)}}
    response = clients.dynamodb().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
        ExpressionAttributeValues={":pk": {"S": account_pk(account_id)}, ":evt": {"S": SK_PREFIX}},
        ScanIndexForward=False,
        Limit=limit,
        **kwargs,
    )
    return [_stored(item) for item in response.get("Items", [])]


def oldest_first(account_id: str, *, after_seq: int = 0) -> Iterator[tuple[str, StoredEvent]]:
    """Every event of the account (newer than `after_seq`) with its sort key, oldest first, page by page."""
    kwargs: dict[str, Any] = {}
    if after_seq > 0:
        kwargs["ExclusiveStartKey"] = {"pk": {"S": account_pk(account_id)}, "sk": {"S": event_sk(after_seq)}}
    pages = (
        clients.dynamodb()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
            ExpressionAttributeValues={":pk": {"S": account_pk(account_id)}, ":evt": {"S": SK_PREFIX}},
            ScanIndexForward=True,
            ConsistentRead=True,
            **kwargs,
        )
    )
    for page in pages:
        for item in page.get("Items", []):
            yield item.get("sk", {}).get("S", ""), _stored(item)


def account_ids() -> set[str]:
    """Every account with a trail (the anchor job's Scan, keys only)."""
    found: set[str] = set()
    pages = clients.dynamodb().get_paginator("scan").paginate(TableName=_table(), ProjectionExpression="pk")
    for page in pages:
        for item in page.get("Items", []):
            pk = item.get("pk", {}).get("S", "")
            if pk.startswith(ACCOUNT_PREFIX):
                found.add(account_of(pk))
    return found

"""Low-level access to the Messaging table: typed (de)serialisation, batched reads and writes, cursors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from switchboard import catalog, settings
from switchboard.dal import clients, cursors
from switchboard.dal.cursors import InvalidCursor

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

TABLE_ENV = catalog.table("Messaging").env
TABLE = "Messaging"  # the catalog id: part of every sealed field's associated data
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
BATCH_RETRIES = 8


@cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    # boto3's package import costs ~0.6 s: the first item read or written pays it, not the handler's import.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

    return TypeSerializer(), TypeDeserializer()


def name() -> str:
    """The physical table name."""
    return settings.get().table(TABLE_ENV)


def item_key(pk: str, sk: str) -> str:
    """Where a sealed field lives, for its associated data."""
    return f"{pk}|{sk}"


def _typed(value: Any) -> Any:
    # DynamoDB numbers are decimals: floats (epoch seconds with a fraction) go through their text form.
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


def dump(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as DynamoDB attribute values (None values are left out)."""
    serializer, _ = _codec()
    return {k: serializer.serialize(_typed(v)) for k, v in item.items() if v is not None}


def load(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain JSON-friendly values (whole numbers int, sets sorted lists, bytes dropped)."""
    _, deserializer = _codec()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return None
    return value


def values(mapping: dict[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues from plain values."""
    serializer, _ = _codec()
    return {k: serializer.serialize(_typed(v)) for k, v in mapping.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    """A primary key as attribute values."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# One test for a refused condition, shared by every data-access module.
conditional_failed = clients.conditional_failed


def get(pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
    """One item, or None."""
    response = clients.dynamodb().get_item(TableName=name(), Key=key(pk, sk), ConsistentRead=consistent)
    raw = response.get("Item")
    return load(raw) if raw else None


def _conditional(
    request: dict[str, Any], condition: str | None, names: dict[str, str] | None, vals: dict[str, Any] | None
) -> dict[str, Any]:
    """`request` with its condition, names and values where given (DynamoDB refuses empty ones)."""
    if condition:
        request["ConditionExpression"] = condition
    if names:
        request["ExpressionAttributeNames"] = names
    if vals:
        request["ExpressionAttributeValues"] = values(vals)
    return request


def put(
    item: dict[str, Any],
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    vals: dict[str, Any] | None = None,
) -> bool:
    """Write an item; False when `condition` refused it."""
    request = _conditional({"TableName": name(), "Item": dump(item)}, condition, names, vals)
    try:
        clients.dynamodb().put_item(**request)
    except ClientError as error:
        if conditional_failed(error):
            return False
        raise
    return True


def update(
    pk: str,
    sk: str,
    *,
    expression: str,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    vals: dict[str, Any] | None = None,
    returns: str = "ALL_NEW",
) -> dict[str, Any] | None:
    """Update an item; its new image, or None when `condition` refused it."""
    request = _conditional(
        {"TableName": name(), "Key": key(pk, sk), "UpdateExpression": expression, "ReturnValues": returns},
        condition,
        names,
        vals,
    )
    try:
        response = clients.dynamodb().update_item(**request)
    except ClientError as error:
        if conditional_failed(error):
            return None
        raise
    return load(response.get("Attributes") or {})


def delete(pk: str, sk: str) -> None:
    """Remove an item (no error when it is gone already)."""
    clients.dynamodb().delete_item(TableName=name(), Key=key(pk, sk))


def delete_if(
    pk: str, sk: str, *, condition: str, names: dict[str, str] | None = None, vals: dict[str, Any] | None = None
) -> bool:
    """Remove an item only if `condition` holds; False when it did not (or the item is gone)."""
    request = _conditional({"TableName": name(), "Key": key(pk, sk)}, condition, names, vals)
    try:
        clients.dynamodb().delete_item(**request)
    except ClientError as error:
        if conditional_failed(error):
            return False
        raise
    return True


def transact(items: list[dict[str, Any]]) -> bool:
    """TransactWriteItems on this table (each entry: {"Put": {...}} etc. without TableName); False on a condition."""
    table = name()
    for entry in items:
        next(iter(entry.values()))["TableName"] = table
    try:
        clients.dynamodb().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
    except ClientError as error:
        if conditional_failed(error):
            return False
        raise
    return True


def batch_get(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Items by key, 100 per BatchGetItem, unprocessed keys retried; missing keys are simply absent."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    table = name()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_MAX):
        pending: dict[str, Any] = {
            table: {"Keys": [key(pk, sk) for pk, sk in unique[start : start + BATCH_GET_MAX]], "ConsistentRead": True}
        }
        for _ in range(BATCH_RETRIES):
            response = clients.dynamodb().batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(table, []):
                item = load(raw)
                found[(item["pk"], item["sk"])] = item
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        else:
            raise RuntimeError("BatchGetItem kept returning unprocessed keys")
    return found


def batch_put(items: Iterable[dict[str, Any]]) -> int:
    """Write items, 25 per BatchWriteItem, unprocessed items retried; returns how many were written."""
    return _batch_write([{"PutRequest": {"Item": dump(item)}} for item in items])


def batch_delete(keys: Iterable[tuple[str, str]]) -> int:
    """Delete items by key, 25 per BatchWriteItem."""
    return _batch_write([{"DeleteRequest": {"Key": key(pk, sk)}} for pk, sk in keys])


def _batch_write(requests: list[dict[str, Any]]) -> int:
    table = name()
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_MAX]}
        for _ in range(BATCH_RETRIES):
            response = clients.dynamodb().batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise RuntimeError("BatchWriteItem kept returning unprocessed items")
    return len(requests)


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """An opaque cursor from DynamoDB's LastEvaluatedKey (the one codec: dal.cursors)."""
    if not last_key:
        return None
    return cursors.encode({k: v["S"] for k, v in last_key.items()})


def decode_cursor(cursor: str | None, *, pk_attr: str, pk_value: str) -> dict[str, Any] | None:
    """ExclusiveStartKey from a cursor; InvalidCursor unless it belongs to this very partition (never another's)."""
    if not cursor:
        return None
    plain = cursors.decode(cursor)
    if plain.get(pk_attr) != pk_value:
        raise InvalidCursor("cursor of another query")
    return {k: {"S": v} for k, v in plain.items()}


def _check_start(
    start: dict[str, Any],
    *,
    index: str | None,
    sk_attr: str,
    prefix: str | None,
    sk_between: tuple[str, str] | None,
) -> None:
    """InvalidCursor unless the start key has exactly this query's key attributes and lies in its sort-key range.

    A LastEvaluatedKey holds the table's keys, plus the index's on an index: a forged cursor without `sk` (or
    with a sort key outside the range) would make DynamoDB refuse the query, which is the client's error.
    """
    keys = {"pk", "sk"} | ({f"{index}pk", sk_attr} if index is not None else set())
    if set(start) != keys:
        raise InvalidCursor("a cursor with other keys")
    sort_key = start[sk_attr]["S"]
    if prefix is not None and not sort_key.startswith(prefix):
        raise InvalidCursor("a cursor outside this query")
    if sk_between is not None and not sk_between[0] <= sort_key <= sk_between[1]:
        raise InvalidCursor("a cursor outside this query")


def query_page(
    *,
    pk_value: str,
    prefix: str | None = None,
    index: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    forward: bool = True,
    sk_between: tuple[str, str] | None = None,
    filter_expression: str | None = None,
    filter_names: dict[str, str] | None = None,
    filter_values: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a Query on the table or one of its indexes; items and the next cursor."""
    pk_attr, sk_attr = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
    names = {"#pk": pk_attr, **(filter_names or {})}
    vals: dict[str, Any] = {":pk": pk_value, **(filter_values or {})}
    condition = "#pk = :pk"
    if prefix is not None:
        names["#sk"] = sk_attr
        vals[":prefix"] = prefix
        condition += " AND begins_with(#sk, :prefix)"
    elif sk_between is not None:
        names["#sk"] = sk_attr
        vals[":low"], vals[":high"] = sk_between
        condition += " AND #sk BETWEEN :low AND :high"
    request: dict[str, Any] = {
        "TableName": name(),
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(vals),
        "ScanIndexForward": forward,
    }
    if index is not None:
        request["IndexName"] = index
    else:
        request["ConsistentRead"] = True
    if limit is not None:
        request["Limit"] = limit
    if filter_expression:
        request["FilterExpression"] = filter_expression
    start = decode_cursor(cursor, pk_attr=pk_attr, pk_value=pk_value)
    if start is not None:
        _check_start(start, index=index, sk_attr=sk_attr, prefix=prefix, sk_between=sk_between)
        request["ExclusiveStartKey"] = start
    try:
        response = clients.dynamodb().query(**request)
    except ClientError as error:
        # Whatever else DynamoDB finds wrong with a start key we did not issue is the cursor's fault, not ours.
        if start is None or error.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        raise InvalidCursor("a start key DynamoDB refuses") from None
    return [load(i) for i in response.get("Items", [])], encode_cursor(response.get("LastEvaluatedKey"))


def query_all(*, pk_value: str, prefix: str, index: str | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a partition with a sort-key prefix, page after page."""
    cursor: str | None = None
    while True:
        items, cursor = query_page(pk_value=pk_value, prefix=prefix, index=index, cursor=cursor)
        yield from items
        if cursor is None:
            return

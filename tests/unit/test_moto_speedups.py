"""The moto transaction speedup leaves every table, answer and error exactly as moto's own whole-table backup does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_speedups

PK = {"AttributeName": "pk", "KeyType": "HASH"}
SK = {"AttributeName": "sk", "KeyType": "RANGE"}
S = "S"


def _put(table: str, pk: str, sk: str | None = None, **extra: str) -> dict[str, Any]:
    item = {"pk": {S: pk}, **({"sk": {S: sk}} if sk is not None else {}), **{k: {S: v} for k, v in extra.items()}}
    return {"Put": {"TableName": table, "Item": item}}


def _key(pk: str, sk: str | None) -> dict[str, Any]:
    return {"pk": {S: pk}, **({"sk": {S: sk}} if sk is not None else {})}


def _update(table: str, pk: str, sk: str | None, value: str, condition: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "TableName": table,
        "Key": _key(pk, sk),
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {S: value}},
    }
    if condition:
        op["ConditionExpression"] = condition
    return {"Update": op}


def _delete(table: str, pk: str, sk: str | None) -> dict[str, Any]:
    return {"Delete": {"TableName": table, "Key": _key(pk, sk)}}


def _check_absent(table: str, pk: str, sk: str | None) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": _key(pk, sk),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


# Each: the transaction's items, against tables that hold a (range) and x (hash-only) items `old` with v=0.
TRANSACTIONS: dict[str, list[dict[str, Any]]] = {
    "all succeed": [_put("r", "a", "new", v="1"), _update("h", "x", None, "2"), _delete("r", "a", "old")],
    "a failing check undoes a put, an upsert, an update and a delete": [
        _put("r", "a", "new", v="1"),
        _update("h", "fresh", None, "1"),
        _update("h", "x", None, "2"),
        _delete("r", "a", "old"),
        _check_absent("h", "x", None),
    ],
    "a failing conditional update first": [
        _update("r", "a", "old", "9", condition="v = :v"),
        _put("h", "y", None, v="1"),
    ],
    "a put missing its key": [_put("h", "z", None, v="1"), {"Put": {"TableName": "r", "Item": {"pk": {S: "a"}}}}],
    "an unknown table": [_put("h", "z", None, v="1"), _put("nowhere", "q", None)],
    "the same item twice": [_update("h", "x", None, "5"), _delete("h", "x", None)],
    "a key of the wrong type": [_put("h", "z", None, v="1"), {"Delete": {"TableName": "r", "Key": {"pk": {"N": "1"}}}}],
}


def _fresh(client: Any) -> dict[str, list[str]]:
    """Both tables as every case starts them; what they hold."""
    for name, schema in (("r", [PK, SK]), ("h", [PK])):
        if name in client.list_tables()["TableNames"]:
            client.delete_table(TableName=name)
        client.create_table(
            TableName=name,
            KeySchema=schema,
            AttributeDefinitions=[{"AttributeName": k["AttributeName"], "AttributeType": S} for k in schema],
            BillingMode="PAY_PER_REQUEST",
        )
    client.transact_write_items(
        TransactItems=[_put("r", "a", "old", v="0"), _put("r", "b", "old", v="0"), _put("h", "x", None, v="0")]
    )
    return _tables(client)


def _tables(client: Any) -> dict[str, list[str]]:
    return {name: sorted(map(repr, client.scan(TableName=name)["Items"])) for name in ("r", "h")}


def _outcome(client: Any, items: list[dict[str, Any]]) -> tuple[Any, dict[str, list[str]]]:
    try:
        client.transact_write_items(TransactItems=items)
        answer: Any = "ok"
    except ClientError as error:
        answer = (error.response["Error"]["Code"], error.response.get("CancellationReasons"))
    return answer, _tables(client)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_speedups.install()
    with mock_aws():
        yield boto3.client("dynamodb", region_name="eu-west-1")


@pytest.mark.parametrize("case", list(TRANSACTIONS))
def test_a_transaction_ends_as_it_would_with_motos_own_backup(
    case: str, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415

    before = _fresh(dynamodb)
    ours = _outcome(dynamodb, TRANSACTIONS[case])
    assert (ours[1] == before) is (ours[0] != "ok"), "a cancelled transaction left a write behind, or one did nothing"

    _fresh(dynamodb)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items.moto_own)
    assert _outcome(dynamodb, TRANSACTIONS[case]) == ours


def test_a_table_copied_outside_a_transaction_is_a_real_copy(dynamodb: Any) -> None:
    import copy  # noqa: PLC0415

    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    _fresh(dynamodb)
    table = dynamodb_backends["123456789012"]["eu-west-1"].tables["h"]
    clone = copy.deepcopy(table)
    assert clone is not table and clone.items is not table.items
    assert set(clone.items) == set(table.items)


def test_motos_module_list_is_read_once_and_is_the_same_list() -> None:
    from pathlib import Path  # noqa: PLC0415

    import moto  # noqa: PLC0415
    from moto import backends  # noqa: PLC0415

    moto_speedups.install()
    folder = Path(moto.__file__).parent
    on_disk = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("__"))
    assert list(backends.list_of_moto_modules()) == on_disk
    assert "dynamodb" in backends.list_of_moto_modules()
    assert backends.list_of_moto_modules() is backends.list_of_moto_modules()  # made once, not per request


def test_two_threads_cannot_both_pass_one_conditional_write(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    import moto.dynamodb.models  # noqa: PLC0415

    _fresh(dynamodb)
    make = moto.dynamodb.models.create_condition_expression_parser

    def slow_parser(*args: Any, **kwargs: Any) -> Any:
        # Between moto's check of the condition and its write: where another thread would get in.
        parser = make(*args, **kwargs)
        parse = parser.parse

        def slow_parse() -> Any:
            condition = parse()
            check = condition.expr

            def slow_check(item: Any) -> Any:
                passed = check(item)
                time.sleep(0.02)
                return passed

            condition.expr = slow_check
            return condition

        parser.parse = slow_parse
        return parser

    monkeypatch.setattr(moto.dynamodb.models, "create_condition_expression_parser", slow_parser)
    start = threading.Barrier(4)
    won: list[str] = []

    def claim(worker: str) -> None:
        start.wait()
        try:
            dynamodb.update_item(
                TableName="h",
                Key=_key("x", None),
                UpdateExpression="SET lease = :me",
                ConditionExpression="attribute_not_exists(lease)",
                ExpressionAttributeValues={":me": {S: worker}},
            )
            won.append(worker)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1, won  # as DynamoDB: exactly one lease, whoever came first
    item = dynamodb.get_item(TableName="h", Key=_key("x", None))["Item"]
    assert item["lease"] == {S: won[0]}

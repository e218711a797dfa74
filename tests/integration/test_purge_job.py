"""The purge job deletes exactly what has expired, never the audit trail, and a second run deletes nothing."""

import boto3
import pytest

from functions.purge_job import handler
from switchboard import clock
from switchboard.dal import purge
from tests.integration.conftest import Context


def put(table: str, pk: str, expires_at: int | None) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "ITEM"}}
    if expires_at is not None:
        item["expires_at"] = {"N": str(expires_at)}
    boto3.client("dynamodb").put_item(TableName=table, Item=item)


def keys(table: str) -> set[str]:
    return {i["pk"]["S"] for i in boto3.client("dynamodb").scan(TableName=table)["Items"]}


def test_purge_deletes_only_expired_items_and_is_idempotent(aws: dict[str, str], context: Context) -> None:
    now = int(clock.timestamp())
    sessions = aws["SESSIONS_TABLE"]
    put(sessions, "SESSION#old", now - 10)
    put(sessions, "SESSION#fresh", now + 3600)
    put(sessions, "SESSION#forever", None)
    put(aws["LIMITS_TABLE"], "LIMIT#old", now - 1)

    report = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context)

    assert report["deleted"]["SESSIONS_TABLE"] == 1
    assert report["deleted"]["LIMITS_TABLE"] == 1
    assert report["total"] == 2
    assert keys(sessions) == {"SESSION#fresh", "SESSION#forever"}
    assert handler.lambda_handler({}, context)["total"] == 0


def test_purge_follows_the_platform_clock(aws: dict[str, str], context: Context) -> None:
    put(aws["SESSIONS_TABLE"], "SESSION#soon", int(clock.timestamp()) + 3600)
    assert handler.lambda_handler({}, context)["total"] == 0
    clock.advance(3601)
    assert handler.lambda_handler({}, context)["total"] == 1


def test_purge_never_deletes_from_the_audit_trail(aws: dict[str, str], context: Context) -> None:
    put(aws["AUDIT_TABLE"], "ACCT#a", int(clock.timestamp()) - 100)
    report = handler.lambda_handler({}, context)
    assert "AUDIT_TABLE" not in report["deleted"]
    assert keys(aws["AUDIT_TABLE"]) == {"ACCT#a"}


@pytest.mark.parametrize("refreshed_to", [10**10])
def test_purge_spares_an_item_refreshed_after_the_scan(aws: dict[str, str], refreshed_to: int) -> None:
    table = aws["SESSIONS_TABLE"]
    now = int(clock.timestamp())
    put(table, "SESSION#busy", now - 5)
    [key] = list(purge.expired_keys(table, now))
    put(table, "SESSION#busy", refreshed_to)  # the session was used between the scan and the delete
    assert purge.delete_if_expired(table, key, now) is False
    assert keys(table) == {"SESSION#busy"}

"""The audit trail under moto: hash-chained per account, append-only, verifiable, paginated newest first."""

import json
import logging
import re
import threading
from typing import Any

import boto3
import pytest

from switchboard.dal import audit as store
from switchboard.dal import clients, cursors
from switchboard.dal.schema import decode
from switchboard.logic import audit
from switchboard.models.errors import BadRequest, ValidationFailed
from switchboard.models.request import RequestMeta
from switchboard.observability import logger
from tests.integration.moto_atomic import serialized_moto

META = RequestMeta(request_id="req-1", source_ip="198.51.100.7", user_agent="pytest")


def record(account_id: str = "acct_a", n: int = 1, **overrides: Any) -> list[Any]:
    kwargs: dict[str, Any] = {
        "type": "login.succeeded",
        "outcome": "success",
        "actor": "usr_1",
        "meta": META,
        "target": {"user_id": "usr_1"},
        "data": {"factor": "password", "attempt": 1, "mfa": False},
    }
    kwargs.update(overrides)
    return [audit.record(account_id=account_id, **kwargs) for _ in range(n)]


def raw_items(table: str, account_id: str = "acct_a") -> list[dict[str, Any]]:
    return boto3.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ACCT#{account_id}"}},
    )["Items"]


def test_record_stores_a_chained_event_per_account(aws: dict[str, str]) -> None:
    first, second = record(n=2)
    record("acct_b")
    items = raw_items(aws["AUDIT_TABLE"])
    assert [i["sk"]["S"] for i in items] == ["EVT#000000000001", "EVT#000000000002"]
    assert items[0]["prev_hash"]["S"] == audit.GENESIS_HASH
    assert items[1]["prev_hash"]["S"] == items[0]["hash"]["S"]
    assert re.fullmatch(r"[0-9a-f]{64}", items[1]["hash"]["S"])
    assert [i["id"]["S"] for i in items] == [first.id, second.id]
    assert items[0]["data"]["M"] == {"factor": {"S": "password"}, "attempt": {"N": "1"}, "mfa": {"BOOL": False}}
    assert [i["sk"]["S"] for i in raw_items(aws["AUDIT_TABLE"], "acct_b")] == ["EVT#000000000001"]


def test_record_timestamps_end_in_z(aws: dict[str, str]) -> None:
    [event] = record()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event.at)
    assert raw_items(aws["AUDIT_TABLE"])[0]["at"]["S"] == event.at


def test_verify_accepts_an_untouched_chain(aws: dict[str, str]) -> None:
    record(n=5)
    assert audit.verify("acct_a").model_dump() == {
        "valid": True,
        "checked": 5,
        "first_bad": None,
        "reason": None,
        "anchored_seq": None,
    }
    assert audit.verify("acct_nobody").model_dump() == {
        "valid": True,
        "checked": 0,
        "first_bad": None,
        "reason": None,
        "anchored_seq": None,
    }


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("outcome", {"S": "failure"}),
        ("actor", {"S": "usr_attacker"}),
        ("data", {"M": {"factor": {"S": "totp"}, "attempt": {"N": "1"}, "mfa": {"BOOL": False}}}),
        ("hash", {"S": "0" * 64}),
        ("smuggled", {"S": "an attribute that was never hashed"}),
    ],
)
def test_verify_detects_one_altered_field(aws: dict[str, str], attribute: str, value: dict[str, Any]) -> None:
    events = record(n=4)
    boto3.client("dynamodb").update_item(
        TableName=aws["AUDIT_TABLE"],
        Key={"pk": {"S": "ACCT#acct_a"}, "sk": {"S": store.event_sk(3)}},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": value},
    )
    result = audit.verify("acct_a")
    assert (result.valid, result.first_bad, result.checked) == (False, events[2].id, 3)


def test_verify_detects_a_deleted_event(aws: dict[str, str]) -> None:
    events = record(n=4)
    boto3.client("dynamodb").delete_item(
        TableName=aws["AUDIT_TABLE"], Key={"pk": {"S": "ACCT#acct_a"}, "sk": {"S": store.event_sk(2)}}
    )
    result = audit.verify("acct_a")
    assert (result.valid, result.first_bad) == (False, events[2].id)


def test_verify_detects_reordered_events(aws: dict[str, str]) -> None:
    events = record(n=3)
    dynamodb = boto3.client("dynamodb")
    items = raw_items(aws["AUDIT_TABLE"])
    # Swap the contents of events 1 and 2, keeping each item's own seq: the chain links no longer match.
    for item, other in ((items[0], items[1]), (items[1], items[0])):
        dynamodb.put_item(TableName=aws["AUDIT_TABLE"], Item={**other, "sk": item["sk"]})
    result = audit.verify("acct_a")
    assert (result.valid, result.first_bad) == (False, events[1].id)


def test_verify_detects_an_event_resealed_by_someone_without_the_successor(aws: dict[str, str]) -> None:
    events = record(n=3)
    items = raw_items(aws["AUDIT_TABLE"])
    forged = {**items[1], "actor": {"S": "usr_attacker"}}
    fields = {k: decode(v) for k, v in forged.items() if k not in store.CHAIN_ATTRIBUTES}
    # The forger recomputes this event's own hash; the next event's prev_hash still names the original.
    forged["hash"] = {"S": audit.chain_hash("acct_a", 2, items[1]["prev_hash"]["S"], fields)}
    boto3.client("dynamodb").put_item(TableName=aws["AUDIT_TABLE"], Item=forged)
    result = audit.verify("acct_a")
    assert (result.valid, result.first_bad, result.checked) == (False, events[2].id, 3)


def test_concurrent_records_make_one_unbroken_chain(aws: dict[str, str]) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            record(n=5)
        except BaseException as error:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(error)

    with serialized_moto():
        threads = [threading.Thread(target=writer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    items = raw_items(aws["AUDIT_TABLE"])
    assert [int(i["seq"]["N"]) for i in items] == list(range(1, 41))
    assert audit.verify("acct_a").model_dump() == {
        "valid": True,
        "checked": 40,
        "first_bad": None,
        "reason": None,
        "anchored_seq": None,
    }


def test_record_logs_a_log_injection_string_as_one_value(aws: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    hostile = 'x\n{"event":"login_success"}'
    with caplog.at_level(logging.INFO):
        record(actor=hostile, data={"username": hostile})
    stored = raw_items(aws["AUDIT_TABLE"])[0]
    assert stored["actor"]["S"] == hostile
    assert stored["data"]["M"]["username"]["S"] == hostile
    [entry] = [r for r in caplog.records if r.getMessage() == "audit"]
    # Rendered by the function's own JSON formatter: one line, the hostile text escaped inside one field.
    line = logger.registered_formatter.format(entry)
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["message"] == "audit"
    assert logged["audit"]["actor"] == hostile
    assert logged["audit"]["data"]["username"] == hostile


def test_list_events_pages_newest_first(aws: dict[str, str]) -> None:
    events = record(n=5)
    record("acct_b", n=2)
    first = audit.list_events("acct_a", limit=2)
    assert [e.id for e in first.data] == [events[4].id, events[3].id]
    assert first.next_cursor
    second = audit.list_events("acct_a", limit=2, cursor=first.next_cursor)
    assert [e.id for e in second.data] == [events[2].id, events[1].id]
    last = audit.list_events("acct_a", limit=2, cursor=second.next_cursor)
    assert [e.id for e in last.data] == [events[0].id]
    assert last.next_cursor is None
    exact = audit.list_events("acct_a", limit=5)
    assert (len(exact.data), exact.next_cursor) == (5, None)
    body = json.loads(first.model_dump_json())
    assert set(body) == {"data", "next_cursor"}
    assert {"id", "type", "outcome", "actor", "at"} <= set(body["data"][0])


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "ZXZ0OmFiYw",
        "ZXZ0OjA",
        "bm9wZTox",
        "ZXZ0OjE",  # "evt:1", as the audit list's own codec issued them before the one codec: refused, not a 500
        cursors.encode({"seq": "0"}),
        cursors.encode({"seq": "x1"}),
        cursors.encode({"seq": "9" * 19}),
        cursors.encode({"after": "1"}),  # another list's cursor
        cursors.encode({"seq": "1", "after": "1"}),
    ],
)
def test_list_events_refuses_a_cursor_it_did_not_issue(aws: dict[str, str], cursor: str) -> None:
    with pytest.raises(BadRequest) as raised:
        audit.list_events("acct_a", cursor=cursor)
    assert raised.value.instance_code == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, 101])
def test_list_events_refuses_a_limit_out_of_range(aws: dict[str, str], limit: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        audit.list_events("acct_a", limit=limit)
    assert refused.value.extra["errors"][0]["pointer"] == "/limit"


def test_record_only_ever_puts_and_queries(aws: dict[str, str]) -> None:
    calls: list[str] = []
    clients.dynamodb().meta.events.register(
        "before-call.dynamodb.*", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1])
    )
    record(n=3)
    audit.verify("acct_a")
    audit.list_events("acct_a")
    assert set(calls) == {"Query", "PutItem"}
    assert calls[:2] == ["Query", "PutItem"]  # one event = one head Query + one conditional PutItem


def test_record_without_an_account_is_logged_but_not_chained(
    aws: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        event = audit.record(account_id="", type="login.failed", outcome="failure", actor="anonymous", meta=META)
    assert event.type == "login.failed"
    assert [r for r in caplog.records if r.getMessage() == "audit"]
    assert boto3.client("dynamodb").scan(TableName=aws["AUDIT_TABLE"])["Items"] == []

"""Erasure cost (finding 6): erasing a person with a few messages, in an account with 3,000 vs 30,000 other messages.

Under moto, in process: each account is seeded with batch writes (other people's messages and inbound messages, a
tenth of them inbound), then DELETE /v1/recipients/{id} runs through its handler as deployed, RUNS times per size
(a new person each time: 5 messages, 3 inbound messages, 2 consent entries, a list membership). Prints the median
time and DynamoDB calls of an erasure per size, and, for scale, one read of every message of the account (what the
erasure did before gsi3). The erasure's cost must not grow with the other messages.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from switchboard.dal.keys import account_pk
from tests.lambda_context import Context

SIZES = (3_000, 30_000)
RUNS = 3
PERSON_MESSAGES = 5
PERSON_INBOUND = 3


def _environment() -> dict[str, str]:
    from switchboard import catalog  # noqa: PLC0415 - after the environment is set

    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "SwitchboardBench",
            "STAGE": "local",
        }
    )
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(var, None)
    names = {t.env: f"bench-{t.id}" for t in catalog.TABLES}
    os.environ.update(names)
    return names


@dataclass
class Work:
    """What DynamoDB does for the calls of a block: calls, items read (Query's ScannedCount, GetItem) and written."""

    calls: int = 0
    read: int = 0
    written: int = 0


def _written(operation: str, params: dict[str, Any]) -> int:
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 1
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in params["RequestItems"].values())
    if operation == "TransactWriteItems":
        return sum(1 for entry in params["TransactItems"] if "ConditionCheck" not in entry)
    return 0


@contextmanager
def counted() -> Iterator[Work]:
    """The DynamoDB work of the block."""
    from botocore.client import BaseClient  # noqa: PLC0415

    work = Work()
    original = vars(BaseClient)["_make_api_call"]

    def _call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        response = original(self, operation, params)
        if self.meta.service_model.service_name == "dynamodb":
            work.calls += 1
            work.written += _written(operation, params)
            work.read += int(response.get("ScannedCount", 0)) + (operation == "GetItem" and "Item" in response)
        return response

    setattr(BaseClient, "_make_api_call", _call)  # noqa: B010 - botocore types do not declare it
    try:
        yield work
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def moto_overhead_ms(account_id: str) -> tuple[float, float]:
    """What moto alone costs per call at this table size: a gsi3 Query of an empty partition (moto scans every item
    of the table for an index query) and a one-item transaction (moto copies every table first)."""
    from switchboard.dal import messages as messages_dal  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415

    queries, transactions = [], []
    for n in range(3):
        started = time.perf_counter()
        messages_dal.for_phone(account_id, "no-such-number", cursor=None, limit=100)
        queries.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        table.transact([{"Put": {"Item": table.dump({"pk": "BENCH", "sk": f"scratch{n}"})}}])
        transactions.append((time.perf_counter() - started) * 1000)
    return statistics.median(queries), statistics.median(transactions)


def _event(account_id: str, method: str, path: str, body: str | None = None) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Content-Type": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "bench",
            "stage": "live",
            "resourcePath": path,
            "httpMethod": method,
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "bench"},
            "authorizer": {
                "principalId": "key_bench",
                "account_id": account_id,
                "principal": "key_bench",
                "role": "developer",
                "credential": "api_key",
                "session_id": "",
                "key_id": "key_bench",
                "plan": "free",
                "mode": "live",
                "auth_at": "",
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _call(handler: Any, account_id: str, method: str, path: str, body: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = handler(_event(account_id, method, path, body), Context())
    return result


def seed_others(account_id: str, count: int) -> None:
    """`count` messages of other people (a tenth inbound), on every index a message is on, in batches of 25."""
    from switchboard.dal import messages as messages_dal  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415

    pk = account_pk(account_id)

    def items() -> Iterator[dict[str, Any]]:
        for n in range(count):
            phone_index = f"{n % 997:064x}"  # ~1,000 other people
            if n % 10 == 0:
                sk = messages_dal.inbound_sk(f"inb_other{n:06d}")
                yield {
                    "pk": pk,
                    "sk": sk,
                    "from_sealed": "sb1.x",
                    "body_sealed": "sb1.x",
                    "from_index": phone_index,
                    **messages_dal.phone_keys(account_id, phone_index, sk),
                }
            else:
                message_id = f"msg_other{n:06d}"
                sk = messages_dal.message_sk(message_id)
                yield {
                    "pk": pk,
                    "sk": sk,
                    "message_id": message_id,
                    "status": "delivered",
                    "channel": "sms",
                    "to_sealed": "sb1.x",
                    "body_sealed": "sb1.x",
                    "created_at": "2026-12-01T00:00:00Z",
                    "gsi1pk": messages_dal.by_time_pk(account_id),
                    "gsi1sk": f"2026-12-01T00:00:00Z#{message_id}",
                    **messages_dal.phone_keys(account_id, phone_index, sk),
                }

    table.batch_put(items())


def seed_person(account_id: str, recipients_handler: Any, n: int) -> str:
    """A person with messages, inbound messages, consent entries and a list membership; their recipient id."""
    import json  # noqa: PLC0415

    from switchboard import ids  # noqa: PLC0415
    from switchboard.dal import messages as messages_dal  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415
    from switchboard.dal import recipients as recipients_dal  # noqa: PLC0415
    from switchboard.logic import messages as messages_logic  # noqa: PLC0415
    from switchboard.logic import recipients as recipients_logic  # noqa: PLC0415

    phone = f"+1415555{n:04d}"
    created = _call(recipients_handler, account_id, "POST", "/v1/recipients", json.dumps({"phone": phone}))
    rid = json.loads(created["body"])["id"]
    for channel in ("sms", "whatsapp"):
        consent = {"channel": channel, "status": "opted_in", "source": "web_form"}
        _call(recipients_handler, account_id, "POST", f"/v1/recipients/{rid}/consents", json.dumps(consent))
    recipients_dal.add_members(account_id, "lst_bench", [rid])
    for _ in range(PERSON_MESSAGES):
        item = messages_logic.new_item(
            account_id=account_id,
            channel="sms",
            from_number="+15550000000",
            to=phone,
            country="US",
            recipient_id=rid,
            body="Your parcel is on its way",
            template=None,
            mode="live",
        )
        messages_dal.put(item)
    index = recipients_logic.phone_index(account_id, phone)
    for _ in range(PERSON_INBOUND):
        sk = messages_dal.inbound_sk(ids.new_id("inb"))
        table.put(
            {
                "pk": account_pk(account_id),
                "sk": sk,
                "from_sealed": "sb1.x",
                "body_sealed": "sb1.x",
                "from_index": index,
                "recipient_id": rid,
                **messages_dal.phone_keys(account_id, index, sk),
            }
        )
    return str(rid)


def main() -> int:
    names = _environment()
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from functions.recipients_api import handler as recipients_api  # noqa: PLC0415
    from local import lambdas, provision  # noqa: PLC0415
    from switchboard import (  # noqa: PLC0415
        catalog,
        ids,
        settings,
    )
    from switchboard.crypto import envelope  # noqa: PLC0415
    from switchboard.dal import clients  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415

    print(f"erasure of one person ({PERSON_MESSAGES} messages, {PERSON_INBOUND} inbound) under moto, {RUNS} runs each")
    results: dict[int, tuple[float, Work]] = {}
    with mock_aws():
        clients.reset()
        settings.reload()
        requests = [provision.create_table_request(spec, names[spec.env]) for spec in catalog.TABLES]
        provision.create_tables(boto3.client("dynamodb"), requests, catalog.TABLES)
        os.environ["DATA_KEY_ID"] = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        settings.reload()
        handler = lambdas.as_deployed("recipients_api", recipients_api.lambda_handler)
        for size in SIZES:
            account_id = ids.new_id("acct")
            envelope.create_key(account_id)
            started = time.perf_counter()
            seed_others(account_id, size)
            seeded_s = time.perf_counter() - started
            times, works = [], []
            for run in range(RUNS):
                rid = seed_person(account_id, handler, run)
                with counted() as work:
                    started = time.perf_counter()
                    answer = _call(handler, account_id, "DELETE", f"/v1/recipients/{rid}")
                    times.append((time.perf_counter() - started) * 1000)
                if answer["statusCode"] != 204:
                    print(f"erasure answered {answer['statusCode']}: {answer.get('body')}", file=sys.stderr)
                    return 1
                works.append(work)
            median = statistics.median(times)
            work = works[len(works) // 2]
            query_ms, transact_ms = moto_overhead_ms(account_id)
            results[size] = (median, work)
            print(
                f"  {size:>6,} other messages (seeded in {seeded_s:.0f} s): erasure median {median:7.1f} ms "
                f"(min {min(times):.0f}, max {max(times):.0f}); DynamoDB work: {work.calls} calls, {work.read} items "
                f"read, {work.written} written; moto alone: {query_ms:.0f} ms per index query, {transact_ms:.0f} ms "
                "per transaction"
            )
            if size == SIZES[0]:
                started = time.perf_counter()
                every = sum(1 for _ in table.query_all(pk_value=account_pk(account_id), prefix="MSG#"))
                print(
                    f"         for scale, the former erasure's read of every message ({every:,}): "
                    f"{(time.perf_counter() - started) * 1000:,.0f} ms"
                )
    (small_ms, small), (large_ms, large) = results[SIZES[0]], results[SIZES[1]]
    print(
        f"{SIZES[1]:,} vs {SIZES[0]:,} other messages (x{SIZES[1] // SIZES[0]}): DynamoDB calls {large.calls} vs "
        f"{small.calls}, items read {large.read} vs {small.read}, written {large.written} vs {small.written}; "
        f"wall time under moto x{large_ms / small_ms:.1f} (moto's per-call cost grows with the table, DynamoDB's "
        "does not)"
    )
    return 0 if (large.calls, large.read, large.written) == (small.calls, small.read, small.written) else 1


if __name__ == "__main__":
    sys.exit(main())

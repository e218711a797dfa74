"""Messages end to end under moto: API → queue → worker (sandbox carriers) → carrier events → webhooks."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.session
import pytest

from functions.carrier_events import handler as carrier_events
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.release_job import handler as release_job
from functions.send_worker import handler as send_worker
from local.workers import sqs_event
from switchboard import clock
from switchboard.carriers import circuit, sandbox
from switchboard.dal import circuits, clients
from switchboard.dal.keys import account_pk
from tests.integration.conftest import Context
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.messaging.conftest import SIGNING_KEY, Account, Queues, add_template, call, opted_in
from tests.integration.moto_atomic import serialized_moto
from tests.integration.webhooks.conftest import add_endpoint

PHONE = "+14155552671"


def work(queues: Queues, queue_id: str = "SmsSend") -> dict[str, Any]:
    """Run the send worker once over what is on the queue now, as the event source does."""
    messages = queues.drain(queue_id)
    event = sqs_event(messages, "arn:aws:sqs:eu-west-1:123456789012:q")
    result: dict[str, Any] = send_worker.lambda_handler(event, Context())
    return {"records": len(messages), **result}


def post_event(carrier: str, event: dict[str, Any], *, key: str = SIGNING_KEY, tamper: bool = False) -> Any:
    raw = json.dumps(event)
    signature = sandbox.sign(key, raw.encode(), int(clock.timestamp()))
    if tamper:
        raw = raw.replace("STOP", "STOQ") if "STOP" in raw else raw + " "
    return call(
        carrier_events, "POST", f"/v1/carriers/{carrier}/events", raw=raw, headers={sandbox.SIGNATURE_HEADER: signature}
    )


def callbacks() -> None:
    """Deliver the sandbox carriers' owed status callbacks to the events route, signed."""
    for owed in sandbox.take_callbacks():
        assert post_event(owed["carrier"], owed).status == 200


def inbound(account: Account, body: str, *, carrier: str = "sandbox-a", channel: str = "sms", **extra: Any) -> Any:
    event = {
        "type": "message.inbound",
        "id": f"sbxevt_{time.monotonic_ns()}",
        "carrier": carrier,
        "channel": channel,
        "from": PHONE,
        "to": account.senders[channel],
        "body": body,
        "received_at": clock.rfc3339(clock.now()),
        **extra,
    }
    return post_event(carrier, event)


def send(account: Account, **fields: Any) -> Any:
    return account.call(messages_api, "POST", "/v1/messages", {"channel": "sms", "body": "Hello Ada", **fields})


@pytest.fixture(autouse=True)
def _breaker_clean() -> None:
    sandbox.reset()


def test_send_without_opt_in_is_422_and_queues_nothing(account: Account, queues: Queues) -> None:
    account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    for fields in ({"to": PHONE}, {"to": "+14155550000"}):
        answer = send(account, **fields)
        assert (answer.status, answer.body["code"]) == (422, "consent_required")
    opted_in(account, recipients_api, "+14155550001", ("whatsapp",))
    assert send(account, to="+14155550001").body["code"] == "consent_required"  # whatsapp is not sms
    assert queues.drain("SmsSend") == []


def test_send_delivers_through_sandbox_and_publishes_signed_webhooks(
    account: Account, queues: Queues, aws: dict[str, str]
) -> None:
    add_endpoint(account.account_id, "whe_1", "https://hooks.example/x", {"message.status"})
    rid = opted_in(account, recipients_api, PHONE)
    answer = send(account, recipient_id=rid)
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "queued"
    assert answer.body["to"] == PHONE
    assert answer.body["from"] == account.senders["sms"]
    message_id = answer.body["id"]
    [record] = queues.sqs.receive_message(QueueUrl=queues.urls["SmsSend"], VisibilityTimeout=0)["Messages"]
    assert json.loads(record["Body"]) == {"account_id": account.account_id, "message_id": message_id}
    assert work(queues) == {"records": 1, "batchItemFailures": []}
    [delivery] = sandbox.deliveries()
    assert (delivery.carrier, delivery.to, delivery.body) == ("sandbox-a", PHONE, "Hello Ada")
    callbacks()
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert log["status"] == "delivered"
    assert log["carrier"] == "sandbox-a"
    assert [e["status"] for e in log["events"]] == ["queued", "sending", "sent", "delivered"]
    assert [(a["carrier"], a["outcome"]) for a in log["attempts"]] == [("sandbox-a", "accepted")]
    jobs = [json.loads(m["Body"]) for m in queues.drain("Callbacks")]
    assert [j["event_type"] for j in jobs] == ["message.status"] * 3
    # No personal data in any table or queue record.
    dynamo = boto3.client("dynamodb")
    for table in aws.values():
        text = str(dynamo.scan(TableName=table)["Items"])
        assert "4155552671" not in text
        assert "Hello Ada" not in text
    assert "4155552671" not in json.dumps(jobs)


def test_send_is_never_repeated_on_redelivery(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    body = json.dumps({"account_id": account.account_id, "message_id": message_id})
    for _ in range(3):
        queues.sqs.send_message(QueueUrl=queues.urls["SmsSend"], MessageBody=body)
    # Four records of one message handled concurrently; DynamoDB applies each conditional write atomically.
    with serialized_moto():
        work(queues)
        work(queues)
    assert len(sandbox.deliveries()) == 1


def test_send_fails_over_when_primary_is_down_and_circuit_opens(
    account: Account, queues: Queues, frozen: FrozenClock
) -> None:
    # The platform clock stands still: the breaker's 30 s cool-down must not lapse on a slow machine mid-test.
    rid = opted_in(account, recipients_api, PHONE)
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    ids = [send(account, recipient_id=rid, body=f"n{n}").body["id"] for n in range(circuit.FAILURES_TO_OPEN + 1)]
    # The worker calls carriers from a thread pool; moto applies one update at a time only under this lock, as
    # DynamoDB does (without it, concurrent ADDs to the breaker's failure count can be lost).
    with serialized_moto():
        work(queues)
    assert {d.carrier for d in sandbox.deliveries()} == {"sandbox-b"}
    logs = [account.call(messages_api, "GET", f"/v1/messages/{i}").body for i in ids]
    assert all(log["status"] == "sent" and log["carrier"] == "sandbox-b" for log in logs)
    outcomes = sorted(log["attempts"][0]["outcome"] for log in logs)
    # The circuit opened after FAILURES_TO_OPEN failures: later sends skip sandbox-a without calling it.
    assert outcomes.count("failed") >= circuit.FAILURES_TO_OPEN - 1
    third = send(account, recipient_id=rid, body="after").body["id"]
    work(queues)
    log = account.call(messages_api, "GET", f"/v1/messages/{third}").body
    assert [(a["carrier"], a["outcome"]) for a in log["attempts"]] == [
        ("sandbox-a", "skipped"),
        ("sandbox-b", "accepted"),
    ]


@pytest.mark.parametrize("stale_window", [False, True])
def test_concurrent_failures_are_all_counted(account: Account, stale_window: bool) -> None:
    # Workers that fail together must not lose counts, even when each finds no window (or a stale one) and
    # would restart it: a lost count keeps a dead carrier's circuit closed.
    now = clock.timestamp()
    if stale_window:
        circuits.add_failure("sandbox-race", now=now - 3 * circuit.WINDOW_S, window_s=circuit.WINDOW_S)
    workers = 12
    start = threading.Barrier(workers)

    def fail(_: int) -> int:
        start.wait()
        return circuits.add_failure("sandbox-race", now=now, window_s=circuit.WINDOW_S)

    with serialized_moto(), ThreadPoolExecutor(workers) as pool:
        counts = list(pool.map(fail, range(workers)))
    assert sorted(counts) == list(range(1, workers + 1))
    assert circuits.get("sandbox-race").failures == workers


def test_send_fails_over_within_two_seconds_when_primary_hangs(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    sandbox.set_state("sandbox-a", sandbox.State.SLOW)
    message_id = send(account, recipient_id=rid).body["id"]
    started = time.monotonic()
    work(queues)
    assert time.monotonic() - started < 2.0
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert [(a["carrier"], a["outcome"]) for a in log["attempts"]] == [
        ("sandbox-a", "timeout"),
        ("sandbox-b", "accepted"),
    ]
    # sandbox-a may have accepted late: a redelivery never asks it again.
    queues.sqs.send_message(
        QueueUrl=queues.urls["SmsSend"],
        MessageBody=json.dumps({"account_id": account.account_id, "message_id": message_id}),
    )
    work(queues)
    assert [d.carrier for d in sandbox.deliveries()] == ["sandbox-b"]


def test_send_when_every_carrier_fails_is_retried_then_failed(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    sandbox.set_state("sandbox-b", sandbox.State.DOWN)
    message_id = send(account, recipient_id=rid).body["id"]
    first = work(queues)
    assert len(first["batchItemFailures"]) == 1
    assert account.call(messages_api, "GET", f"/v1/messages/{message_id}").body["status"] == "sending"


def test_inbound_stop_blocks_the_next_send_even_with_primary_down(account: Account, queues: Queues) -> None:
    add_endpoint(account.account_id, "whe_1", "https://hooks.example/x", {"message.inbound", "recipient.opted_out"})
    rid = opted_in(account, recipients_api, PHONE)
    queued = send(account, recipient_id=rid).body["id"]
    assert inbound(account, "  stop ").status == 200
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    refused = send(account, recipient_id=rid)
    assert (refused.status, refused.body["code"]) == (422, "consent_required")
    # The message queued before STOP is not sent either, on any carrier.
    work(queues)
    assert sandbox.deliveries() == []
    log = account.call(messages_api, "GET", f"/v1/messages/{queued}").body
    assert (log["status"], log["error"]["code"]) == ("failed", "consent_required")
    ledger = account.call(recipients_api, "GET", f"/v1/recipients/{rid}/consents").body["data"]
    assert (ledger[-1]["status"], ledger[-1]["source"]) == ("opted_out", "keyword")
    kinds = sorted(json.loads(m["Body"])["event_type"] for m in queues.drain("Callbacks"))
    assert kinds == ["message.inbound", "recipient.opted_out"]
    assert inbound(account, "START").status == 200
    assert send(account, recipient_id=rid).status == 202


def test_inbound_whatsapp_marketing_opt_out(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("whatsapp",))
    assert (
        inbound(
            account, "thanks", channel="whatsapp", extra={"type": "user_preferences", "marketing_messages": "stop"}
        ).status
        == 200
    )
    assert account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]["whatsapp"] == "opted_out"


def test_inbound_stop_from_a_stranger_is_remembered(account: Account, queues: Queues) -> None:
    assert inbound(account, "STOP").status == 200
    # Writing first made the stranger a recipient (issue 14), opted out by the STOP itself.
    created = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    assert (created.status, created.body["code"]) == (409, "recipient_exists")
    rid = created.body["existing_id"]
    assert account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]["sms"] == "opted_out"
    # Erased, the number keeps its opt-out (the tombstone) when it becomes a recipient again.
    assert account.call(recipients_api, "DELETE", f"/v1/recipients/{rid}").status == 204
    again = account.call(recipients_api, "POST", "/v1/recipients", {"phone": PHONE})
    assert again.body["consent"]["sms"] == "opted_out"


def test_inbound_help_replies_without_consent(account: Account, queues: Queues) -> None:
    assert inbound(account, "help").status == 200
    work(queues)
    [reply] = sandbox.deliveries()
    assert reply.to == PHONE
    assert "STOP" in reply.body


def test_carrier_events_refuses_bad_signatures_and_writes_nothing(
    account: Account, queues: Queues, aws: dict[str, str]
) -> None:
    before = boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Count"]
    event = {
        "type": "message.inbound",
        "id": "sbxevt_1",
        "carrier": "sandbox-a",
        "channel": "sms",
        "from": PHONE,
        "to": account.senders["sms"],
        "body": "STOP",
        "received_at": clock.rfc3339(clock.now()),
    }
    assert post_event("sandbox-a", event, tamper=True).status == 401
    assert post_event("sandbox-a", event, key="wrong").status == 401
    unsigned = call(carrier_events, "POST", "/v1/carriers/sandbox-a/events", raw=json.dumps(event))
    assert unsigned.status == 401
    assert boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Count"] == before
    assert call(carrier_events, "POST", "/v1/carriers/nope/events", raw="{}").status == 404
    # Duplicates are no-ops.
    assert post_event("sandbox-a", event).status == 200
    after_first = boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Count"]
    assert post_event("sandbox-a", event).status == 200
    assert boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Count"] == after_first


def test_status_events_never_move_backwards(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    work(queues)
    [owed] = sandbox.take_callbacks()
    read = {**owed, "id": "sbxevt_read", "status": "read"}
    assert post_event("sandbox-a", read).status == 200
    assert post_event("sandbox-a", owed).status == 200  # delivered arrives after read
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert log["status"] == "read"


def test_send_validation_and_permissions(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("sms", "whatsapp"))
    cases = [
        ({"recipient_id": rid, "body": "x" * 1601}, "/body"),
        ({"recipient_id": rid, "to": PHONE}, "/to"),
        ({"recipient_id": rid, "body": None}, "/body"),
        ({"recipient_id": rid, "body": None, "template": {"name": "t", "language": "en"}}, "/template"),
        ({"recipient_id": rid, "send_at": "2000-01-01T00:00:00Z"}, "/send_at"),
        ({"recipient_id": rid, "send_at": clock.rfc3339(clock.now().replace(year=clock.now().year + 1))}, "/send_at"),
        ({"recipient_id": rid, "validity_s": 5}, "/validity_s"),
        ({"recipient_id": rid, "callback_url": "ftp://x"}, "/callback_url"),
    ]
    for fields, pointer in cases:
        answer = send(account, **fields)
        assert answer.status == 422, (fields, answer.body)
        assert answer.body["errors"][0]["pointer"] == pointer, fields
    add_template(account, "order_update", "en_US", "Your order {{1}} is on its way.")
    template = {"name": "order_update", "language": "en_US", "parameters": ["{{7*7}}"]}
    ok = send(account, recipient_id=rid, channel="whatsapp", body=None, template=template)
    assert ok.status == 202, ok.body
    assert ok.body["template"] == template
    assert send(account, recipient_id=rid, role_override=None).status == 422  # unknown field
    viewer = account.call(
        messages_api, "POST", "/v1/messages", {"channel": "sms", "body": "x", "recipient_id": rid}, role="viewer"
    )
    assert viewer.status == 403


def test_message_log_masks_for_viewers_and_hides_other_accounts(
    account: Account, other_account: Account, queues: Queues
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    seen = account.call(messages_api, "GET", f"/v1/messages/{message_id}", role="viewer").body
    assert seen["to"] == "+1******2671"
    assert seen["body"] is None
    assert other_account.call(messages_api, "GET", f"/v1/messages/{message_id}").status == 404
    assert other_account.call(messages_api, "GET", "/v1/messages").body["data"] == []


def test_message_list_filters_and_paginates(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("sms", "whatsapp"))
    ids = [send(account, recipient_id=rid, body=f"m{n}").body["id"] for n in range(3)]
    add_template(account, "order_update", "en_US", "Your order is on its way.")
    template = {"name": "order_update", "language": "en_US"}
    ids.append(send(account, recipient_id=rid, channel="whatsapp", body=None, template=template).body["id"])
    page = account.call(messages_api, "GET", "/v1/messages", query={"limit": "2"}).body
    rest = account.call(messages_api, "GET", "/v1/messages", query={"cursor": page["next_cursor"]}).body
    assert [m["id"] for m in page["data"] + rest["data"]] == list(reversed(ids))
    sms = account.call(messages_api, "GET", "/v1/messages", query={"channel": "sms"}).body["data"]
    assert len(sms) == 3
    assert account.call(messages_api, "GET", "/v1/messages", query={"status": "sent"}).body["data"] == []
    future = clock.rfc3339(clock.now().replace(year=clock.now().year + 1))
    assert account.call(messages_api, "GET", "/v1/messages", query={"since": future}).body["data"] == []
    assert account.call(messages_api, "GET", "/v1/messages", query={"since": "yesterday"}).status == 400
    assert account.call(messages_api, "GET", "/v1/messages", query={"status": "bogus"}).status == 400


def test_send_at_beyond_fifteen_minutes_is_held_then_released(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    later = clock.rfc3339(clock.now().replace(microsecond=0) + __import__("datetime").timedelta(hours=1))
    answer = send(account, recipient_id=rid, send_at=later)
    assert answer.status == 202
    assert queues.drain("SmsSend") == []
    assert release_job.lambda_handler({}, Context()) == {
        "released": 0,
        "expired": 0,
        "held": 0,
        "resumed": 0,
        "skipped": 0,
    }
    clock.advance(3600 - 60)
    assert release_job.lambda_handler({}, Context()) == {
        "released": 1,
        "expired": 0,
        "held": 0,
        "resumed": 0,
        "skipped": 0,
    }
    assert len(queues.sqs.receive_message(QueueUrl=queues.urls["SmsSend"], WaitTimeSeconds=0).get("Messages", [])) in (
        0,
        1,
    )


def test_validity_expires_held_and_queued_messages(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    later = clock.rfc3339(clock.now() + __import__("datetime").timedelta(hours=1))
    held = send(account, recipient_id=rid, send_at=later, validity_s=60).body["id"]
    queued = send(account, recipient_id=rid, validity_s=60).body["id"]
    clock.advance(3700)
    assert release_job.lambda_handler({}, Context()) == {
        "released": 0,
        "expired": 1,
        "held": 0,
        "resumed": 0,
        "skipped": 0,
    }
    work(queues)
    assert sandbox.deliveries() == []
    for message_id in (held, queued):
        assert account.call(messages_api, "GET", f"/v1/messages/{message_id}").body["status"] == "expired"


def test_quota_exceeded_is_429_and_queues_nothing(
    account: Account, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard.models import plans  # noqa: PLC0415

    monkeypatch.setitem(plans.DAILY_MESSAGES, "free", 2)
    rid = opted_in(account, recipients_api, PHONE)
    assert send(account, recipient_id=rid).status == 202
    assert send(account, recipient_id=rid).status == 202
    refused = send(account, recipient_id=rid)
    assert (refused.status, refused.body["code"]) == (429, "quota_exceeded")
    assert int(refused.headers["Retry-After"]) > 0
    assert len(queues.drain("SmsSend")) == 2


def test_broadcast_of_1000_recipients_makes_fewer_than_250_aws_calls(account: Account, queues: Queues) -> None:
    from switchboard.crypto import envelope  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415
    from switchboard.dal.accounts import AccountItem  # noqa: PLC0415
    from switchboard.dal.keyring import KeyringItem  # noqa: PLC0415
    from switchboard.logic import recipients as recipients_logic  # noqa: PLC0415

    list_id = account.call(recipients_api, "POST", "/v1/lists", {"name": "all"}).body["id"]
    # 1,000 recipients written directly (sealed as the API seals them); 900 opted in to sms.
    items = []
    for n in range(1000):
        rid = f"rcp_{n:026d}"
        sk = f"RCP#{rid}"
        pk = account_pk(account.account_id)
        phone = f"+1415555{n:04d}"
        items.append(
            {
                "pk": pk,
                "sk": sk,
                "recipient_id": rid,
                "country": "US",
                "created_at": "2026-01-01T00:00:00Z",
                "phone_sealed": envelope.seal(
                    account.account_id, phone, table="Messaging", item_key=f"{pk}|{sk}", field="phone_sealed"
                ),
                "phone_index": recipients_logic.phone_index(account.account_id, phone),
                "consent": {"sms": "opted_in"} if n % 10 else {},
            }
        )
        items.append({"pk": pk, "sk": f"LISTMEM#{list_id}#{rid}", "recipient_id": rid, "list_id": list_id})
    table.batch_put(items)
    envelope.forget_cached_keys()
    clients.reset()
    calls: list[str] = []

    def count_pynamo(model: Any, **_: Any) -> None:  # every AWS call, whichever client makes it
        calls.append(model.name)

    session = botocore.session.get_session()
    session.register("before-call", count_pynamo)
    boto_session = boto3.session.Session(botocore_session=session)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(clients, "_client", boto_session.client)
    # PynamoDB models (accounts, keyring) keep their own botocore clients: count their calls too.
    pynamo_events = [m._get_connection().connection.client.meta.events for m in (AccountItem, KeyringItem)]
    for events in pynamo_events:
        events.register("before-call", count_pynamo)
    try:
        answer = account.call(
            messages_api, "POST", "/v1/broadcasts", {"list_id": list_id, "channel": "sms", "body": "Sale"}
        )
    finally:
        monkey.undo()
        for events in pynamo_events:
            events.unregister("before-call", count_pynamo)
    assert answer.status == 202, answer.body
    assert (answer.body["accepted"], answer.body["skipped"]) == (900, {"no_consent": 100, "outside_window": 0})
    print(
        f"\nbroadcast of 1,000 recipients: {len(calls)} AWS calls: "
        + json.dumps({c: calls.count(c) for c in sorted(set(calls))})
    )
    assert len(calls) < 250
    assert calls.count("Decrypt") + calls.count("GenerateDataKey") <= 1
    assert calls.count("SendMessageBatch") == 90
    attributes = queues.sqs.get_queue_attributes(
        QueueUrl=queues.urls["SmsSend"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "900"

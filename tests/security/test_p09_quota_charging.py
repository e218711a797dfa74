"""P09: the daily quota is charged only for what was accepted, whatever refused or failed the rest.

Each kind of refusal of a single send (invalid fields, no consent, WhatsApp's closed window, a lone surrogate in a
template parameter, the quota itself) and each failure after the checks (the message's write, sealing it) leaves
the day's counter where it was and stores nothing; a failed SendMessage after the write is an accepted message
(the release job sends it) and is charged once. A broadcast charges exactly the messages it stored: a write that
fails half-way rolls back and refunds all, a rollback that fails too leaves charged exactly what stays stored.
Under concurrent sends (real threads, moto serialized as DynamoDB serializes writes to an item) the counter equals
the messages accepted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.release_job import handler as release_job
from switchboard import clock, settings
from switchboard.crypto import envelope
from switchboard.models import plans
from tests.integration.conftest import Context
from tests.integration.messaging.conftest import Account, Answer, Queues, opted_in
from tests.integration.moto_atomic import serialized_moto
from tests.security import faults
from tests.security.faults import Fault, in_function, injected

PHONE = "+14155552671"
SURROGATE_BODY = (
    '{"channel": "whatsapp", "recipient_id": "%s", "template": {"name": "order_update", "language": "en",'
    ' "parameters": ["ok", "\\udc00"]}}'
)


def used(account: Account) -> int:
    """Today's quota counter of the account, read straight from the Limits table."""
    item = (
        boto3.client("dynamodb")
        .get_item(
            TableName=settings.get().table("LIMITS_TABLE"),
            Key={"pk": {"S": f"ACCT#{account.account_id}"}, "sk": {"S": f"QUOTA#MSG#{clock.now():%Y-%m-%d}"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return int(item.get("used", {}).get("N", "0"))


def stored(account: Account) -> list[dict[str, Any]]:
    """Every message item of the account in the Messaging table."""
    client = boto3.client("dynamodb")
    answer = client.query(
        TableName=settings.get().table("MESSAGING_TABLE"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
        ExpressionAttributeValues={":pk": {"S": f"ACCT#{account.account_id}"}, ":msg": {"S": "MSG#"}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def send(account: Account, payload: dict[str, Any] | None = None, *, raw: str | None = None) -> Answer:
    from tests.integration.messaging.conftest import call  # noqa: PLC0415 - the raw-body form of account.call

    return call(messages_api, "POST", "/v1/messages", payload, account=account, raw=raw)


def _broadcast(account: Account, list_id: str, **fields: Any) -> Answer:
    payload = {"list_id": list_id, "channel": "sms", "body": "to all", **fields}
    return account.call(messages_api, "POST", "/v1/broadcasts", payload)


def _list_of(account: Account, rids: list[str]) -> str:
    list_id: str = account.call(recipients_api, "POST", "/v1/lists", {"name": "all"}).body["id"]
    for start in range(0, len(rids), 100):
        added = account.call(
            recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": rids[start : start + 100]}
        )
        assert added.status < 300, added.body
    return list_id


def _refusals(rid: str, whatsapp_rid: str, stranger: str) -> dict[str, tuple[Callable[[Account], Answer], int, str]]:
    """Each kind of refusal of one send: how to make it, its status and code."""
    return {
        "both to and recipient_id": (
            lambda a: send(a, {"channel": "sms", "body": "x", "to": PHONE, "recipient_id": rid}),
            422,
            "validation_failed",
        ),
        "send_at in the past": (
            lambda a: send(a, {"channel": "sms", "body": "x", "recipient_id": rid, "send_at": "2000-01-01T00:00:00Z"}),
            422,
            "validation_failed",
        ),
        "no consent": (
            lambda a: send(a, {"channel": "sms", "body": "x", "recipient_id": stranger}),
            422,
            "consent_required",
        ),
        "no consent on this channel": (
            lambda a: send(a, {"channel": "voice", "body": "x", "recipient_id": rid}),
            422,
            "consent_required",
        ),
        "whatsapp window closed": (
            lambda a: send(a, {"channel": "whatsapp", "body": "x", "recipient_id": whatsapp_rid}),
            422,
            "template_required",
        ),
        "lone surrogate in a template parameter": (
            lambda a: send(a, raw=SURROGATE_BODY % whatsapp_rid),
            422,
            "invalid_unicode",
        ),
        "unknown recipient": (
            lambda a: send(a, {"channel": "sms", "body": "x", "recipient_id": "rcp_" + "0" * 26}),
            404,
            "not_found",
        ),
    }


def test_every_refusal_of_a_send_leaves_the_quota_and_the_store_as_they_were(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    whatsapp_rid = opted_in(account, recipients_api, "+14155552672", ("whatsapp",))
    stranger = account.call(recipients_api, "POST", "/v1/recipients", {"phone": "+14155552673"}).body["id"]
    assert send(account, {"channel": "sms", "body": "first", "recipient_id": rid}).status == 202
    assert (used(account), len(stored(account))) == (1, 1)  # an accepted send is charged: the counter works
    for kind, (make, status, code) in _refusals(rid, whatsapp_rid, stranger).items():
        clock.advance(2)  # the key's rate limit is not under test
        answer = make(account)
        assert (answer.status, answer.body["code"]) == (status, code), (kind, answer.body)
        assert (used(account), len(stored(account))) == (1, 1), kind
    assert len(queues.drain("SmsSend")) == 1


def test_the_quota_refusal_itself_charges_nothing(
    account: Account, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plans.DAILY_MESSAGES, "free", 2)
    rid = opted_in(account, recipients_api, PHONE)
    assert [send(account, {"channel": "sms", "body": "x", "recipient_id": rid}).status for _ in range(4)] == [
        202,
        202,
        429,
        429,
    ]
    assert (used(account), len(stored(account))) == (2, 2)


# The message's write fails (DynamoDB), or sealing it does (KMS): after every check passed, before it was stored.
WRITE_FAULTS = {
    "PutItem throttled": lambda: Fault(
        "dynamodb",
        faults.DYNAMODB_THROTTLED,
        operation="PutItem",
        when=lambda f, p: f == "messages_api" and "Messaging" in p.get("TableName", ""),
    ),
    "PutItem internal error": lambda: Fault(
        "dynamodb",
        faults.DYNAMODB_INTERNAL,
        operation="PutItem",
        when=lambda f, p: f == "messages_api" and "Messaging" in p.get("TableName", ""),
    ),
    "KMS throttled": lambda: Fault("kms", faults.KMS_THROTTLING, when=in_function("messages_api")),
}


@pytest.mark.parametrize("fault", WRITE_FAULTS, ids=str)
def test_a_send_whose_write_fails_is_503_and_costs_no_quota(account: Account, queues: Queues, fault: str) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    envelope.forget_cached_keys()  # sealing needs the data key again: KMS is asked
    with injected(WRITE_FAULTS[fault]()) as (injected_fault,):
        answer = send(account, {"channel": "sms", "body": "x", "recipient_id": rid})
    assert injected_fault.hits >= 1
    assert answer.status == 503, answer.body
    assert (used(account), len(stored(account))) == (0, 0)
    assert queues.drain("SmsSend") == []


@pytest.mark.parametrize("error", [faults.SQS_INTERNAL, faults.SQS_KMS_THROTTLED], ids=lambda e: e[1])
def test_a_send_whose_enqueue_fails_after_the_write_is_accepted_and_charged_once(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    with injected(Fault("sqs", error, operation="SendMessage", when=in_function("messages_api"))):
        answer = send(account, {"channel": "sms", "body": "x", "recipient_id": rid})
    assert answer.status == 202, answer.body  # stored in the outbox: accepted, so charged
    assert (used(account), len(stored(account))) == (1, 1)
    assert release_job.lambda_handler({}, Context())["released"] == 1
    assert len(queues.drain("SmsSend")) == 1


def _recipients(account: Account, count: int, consenting: int) -> list[str]:
    rids = []
    for n in range(consenting):
        rids.append(opted_in(account, recipients_api, f"+1415555{5000 + n:04d}"))
        clock.advance(1)  # paced like a client (two requests each): the rate limit is not under test
    for n in range(consenting, count):
        created = account.call(recipients_api, "POST", "/v1/recipients", {"phone": f"+1415555{5000 + n:04d}"})
        rids.append(created.body["id"])
        clock.advance(1)
    return rids


def test_a_broadcast_charges_exactly_what_it_accepted(account: Account, queues: Queues) -> None:
    list_id = _list_of(account, _recipients(account, 8, consenting=5))
    clock.advance(60)
    answer = _broadcast(account, list_id)
    assert answer.status == 202, answer.body
    assert (answer.body["accepted"], answer.body["skipped"]["no_consent"]) == (5, 3)
    assert (used(account), len(stored(account))) == (5, 5)
    # Refused whole (a lone surrogate in a template parameter; Templates only on WhatsApp): nothing more charged.
    raw = json.dumps({"list_id": list_id, "channel": "sms", "body": "x"})[:-1] + ', "template": {"name": "\\ud800"}}'
    from tests.integration.messaging.conftest import call  # noqa: PLC0415

    refused = call(messages_api, "POST", "/v1/broadcasts", account=account, raw=raw)
    assert (refused.status, refused.body["code"]) == (422, "invalid_unicode")
    refused = _broadcast(account, list_id, template={"name": "x", "language": "en"})
    assert refused.status == 422
    assert (used(account), len(stored(account))) == (5, 5)


def test_a_broadcast_over_the_quota_is_refused_whole_and_charges_nothing(
    account: Account, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plans.DAILY_MESSAGES, "free", 4)
    list_id = _list_of(account, _recipients(account, 5, consenting=5))
    clock.advance(60)
    answer = _broadcast(account, list_id)
    assert (answer.status, answer.body["code"]) == (429, "quota_exceeded")
    assert (used(account), len(stored(account))) == (0, 0)


def _batch_put_fault(error: tuple[int, str], *, after: int) -> Fault:
    """The broadcast's BatchWriteItem of new messages fails from its `after`+1-th call on (deletes pass)."""
    calls = {"n": 0}

    def when(function: str, params: dict[str, Any]) -> bool:
        requests = next(iter(params.get("RequestItems", {}).values()), [])
        if function != "messages_api" or not requests or "PutRequest" not in requests[0]:
            return False
        calls["n"] += 1
        return calls["n"] > after

    return Fault("dynamodb", error, operation="BatchWriteItem", when=when)


@pytest.mark.parametrize("error", [faults.DYNAMODB_THROTTLED, faults.DYNAMODB_INTERNAL], ids=lambda e: e[1])
def test_a_broadcast_whose_write_fails_half_way_rolls_back_and_refunds_all(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    list_id = _list_of(account, _recipients(account, 30, consenting=30))  # two writes of 25 and 5
    clock.advance(60)
    with injected(_batch_put_fault(error, after=1)) as (fault,):
        answer = _broadcast(account, list_id)
    assert fault.hits == 1
    assert answer.status == 503, answer.body
    assert (used(account), len(stored(account))) == (0, 0)  # the first 25, written, were rolled back
    assert queues.drain("SmsSend") == []
    clock.advance(60)
    retried = _broadcast(account, list_id)  # nothing was kept: the retry is the only broadcast
    assert (retried.status, retried.body["accepted"]) == (202, 30)
    assert (used(account), len(stored(account))) == (30, 30)


def test_when_the_rollback_fails_too_the_quota_equals_what_stays_stored(account: Account, queues: Queues) -> None:
    list_id = _list_of(account, _recipients(account, 30, consenting=30))
    clock.advance(60)
    rollback = Fault(
        "dynamodb",
        faults.DYNAMODB_INTERNAL,
        operation="BatchWriteItem",
        when=lambda f, p: f == "messages_api" and "DeleteRequest" in json.dumps(p.get("RequestItems", {})),
    )
    with injected(_batch_put_fault(faults.DYNAMODB_INTERNAL, after=1), rollback):
        answer = _broadcast(account, list_id)
    assert answer.status == 503, answer.body
    assert used(account) == len(stored(account)) == 25


@pytest.mark.parametrize("error", [faults.SQS_INTERNAL, faults.SQS_KMS_THROTTLED], ids=lambda e: e[1])
def test_a_broadcast_whose_enqueue_fails_after_the_write_is_accepted_and_charged_once(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    list_id = _list_of(account, _recipients(account, 12, consenting=12))
    clock.advance(60)
    with injected(Fault("sqs", error, operation="SendMessageBatch", when=lambda f, p: len(p["Entries"]) < 10)):
        answer = _broadcast(account, list_id)
    assert (answer.status, answer.body["accepted"]) == (202, 12), answer.body
    assert (used(account), len(stored(account))) == (12, 12)


def test_under_concurrent_sends_the_quota_equals_the_messages_accepted(
    account: Account, queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 10
    monkeypatch.setitem(plans.DAILY_MESSAGES, "free", limit)
    monkeypatch.setitem(plans.DAILY_MESSAGES, "enterprise", limit)
    account.plan = "enterprise"  # its rate limit lets 24 requests through at once; its quota is the one above
    rid = opted_in(account, recipients_api, PHONE)
    stranger = account.call(recipients_api, "POST", "/v1/recipients", {"phone": "+14155552673"}).body["id"]
    clock.advance(60)
    # 24 senders at once: 6 to a recipient who never opted in, 18 who may be sent to, of which 3 meet a failed
    # write (503) and the quota lets at most 10 through.
    payloads = [{"channel": "sms", "body": f"n{n}", "recipient_id": stranger if n % 4 == 0 else rid} for n in range(24)]
    answers: list[Answer] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(payloads))

    def one(payload: dict[str, Any]) -> None:
        barrier.wait()
        answer = send(account, payload)
        with lock:
            answers.append(answer)

    put_fault = Fault(
        "dynamodb",
        faults.DYNAMODB_INTERNAL,
        operation="PutItem",
        when=lambda f, p: f == "messages_api" and "Messaging" in p.get("TableName", ""),
        times=3,
    )
    with serialized_moto(), injected(put_fault):
        threads = [threading.Thread(target=one, args=(p,)) for p in payloads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    statuses = sorted(a.status for a in answers)
    assert len(answers) == len(payloads) and all(s < 500 or s == 503 for s in statuses), statuses
    accepted = statuses.count(202)
    assert statuses.count(422) == 6
    assert put_fault.hits == 3 and statuses.count(503) == 3, statuses
    assert 0 < accepted <= limit
    assert used(account) == accepted == len(stored(account))

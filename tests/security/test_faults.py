"""Faults injected at the AWS client layer (tests/security/faults.py): DynamoDB throttling, KMS errors, an SQS send
failure after the database write, a worker crash mid-batch.

What must hold: an API route answers a transient AWS failure with 503 problem+json and `Retry-After`, never 500
(whichever call fails: the authorizer's, the rate limiter's, the idempotency claim, the route's own); nothing
accepted is lost (a message whose queue send failed is still sent, by the release job); nothing is sent twice
(a batch redelivered after a crash, a second queue record).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from functions.account_api import handler as account_api
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.release_job import handler as release_job
from functions.send_worker import handler as send_worker
from functions.webhooks_api import handler as webhooks_api
from local.workers import sqs_event
from switchboard import clock
from switchboard.carriers import sandbox
from switchboard.crypto import envelope
from switchboard.dal import messages as messages_dal
from switchboard.dal import messaging_table
from switchboard.dal.keys import account_pk
from tests.integration.conftest import Context
from tests.integration.messaging.conftest import Account, Answer, Queues, opted_in
from tests.security import faults
from tests.security.faults import Fault, in_function, injected

PHONE = "+14155552671"
TRANSIENT_DYNAMODB = [faults.DYNAMODB_THROTTLED, faults.DYNAMODB_THROTTLING, faults.DYNAMODB_INTERNAL]
KMS_ERRORS = [faults.KMS_INTERNAL, faults.KMS_THROTTLING, faults.KMS_DISABLED]


@dataclass(frozen=True)
class Route:
    """One API route as a developer's API key calls it (the authorizer's context is given)."""

    module: ModuleType
    function: str
    method: str
    path: str
    body: Callable[[int], Any] | None = None


ROUTES = {
    "create recipient": Route(
        recipients_api, "recipients_api", "POST", "/v1/recipients", lambda n: {"phone": f"+1415555{3000 + n:04d}"}
    ),
    "list recipients": Route(recipients_api, "recipients_api", "GET", "/v1/recipients"),
    "create list": Route(recipients_api, "recipients_api", "POST", "/v1/lists", lambda n: {"name": f"l{n}"}),
    "list messages": Route(messages_api, "messages_api", "GET", "/v1/messages"),
    "create webhook endpoint": Route(
        webhooks_api,
        "webhooks_api",
        "POST",
        "/v1/webhook-endpoints",
        lambda n: {"url": f"http://127.0.0.1:9/h{n}", "events": ["message.status"]},
    ),
    "list webhook endpoints": Route(webhooks_api, "webhooks_api", "GET", "/v1/webhook-endpoints"),
    "read account": Route(account_api, "account_api", "GET", "/v1/account"),
}
# Where the DynamoDB failure strikes: the first call of the function (the rate limiter, before the route), the
# idempotency claim of a POST, or only the route's own tables (inside the route).
WHERE: dict[str, Callable[[str], Callable[[str, dict[str, Any]], bool]]] = {
    "any call": in_function,
    "the route's own tables": lambda fn: lambda f, p: f == fn and "Limits" not in p.get("TableName", ""),
}


def _call(account: Account, route: Route, n: int, headers: dict[str, str] | None = None) -> Answer:
    body = route.body(n) if route.body is not None else None
    return account.call(route.module, route.method, route.path, body, headers=headers)


def _is_503(answer: Answer) -> str:
    """Empty when `answer` is the 503 problem with Retry-After."""
    ok = (
        answer.status == 503
        and answer.headers.get("Content-Type") == "application/problem+json"
        and (answer.body or {}).get("code") == "service_unavailable"
        and (answer.headers.get("Retry-After") or "").isdigit()
    )
    return "" if ok else f"{answer.status} {answer.headers.get('Retry-After')} {answer.body}"


@pytest.mark.parametrize("name", list(ROUTES))
def test_dynamodb_throttling_on_an_api_route_is_503_with_retry_after(account: Account, name: str) -> None:
    """Each transient DynamoDB error, struck at each place, on this route (one moto account for the lot)."""
    route = ROUTES[name]
    for n, (where, error) in enumerate(itertools.product(WHERE, TRANSIENT_DYNAMODB)):
        with injected(Fault("dynamodb", error, when=WHERE[where](route.function))) as (fault,):
            answer = _call(account, route, n)
        assert fault.hits >= 1, (where, error)
        assert _is_503(answer) == "", (where, error)
        # Nothing is left broken: the same request succeeds once DynamoDB is back.
        assert 200 <= _call(account, route, n).status < 300, (where, error)
        clock.advance(1)  # a well-behaved client: the rate limits are not under test


@pytest.mark.parametrize("error", TRANSIENT_DYNAMODB, ids=lambda e: e[1])
def test_a_failed_idempotency_claim_is_503_and_the_retry_creates_one_object(
    account: Account, error: tuple[int, str]
) -> None:
    route, key = ROUTES["create list"], {"Idempotency-Key": "retry-me"}
    claim = Fault("dynamodb", error, operation="PutItem", when=lambda f, p: "Idempotency" in p.get("TableName", ""))
    with injected(claim):
        assert _is_503(_call(account, route, 7, key)) == ""
    first = _call(account, route, 7, key)
    again = _call(account, route, 7, key)
    assert first.status == 201 and again.headers.get("Idempotency-Replay") == "true"
    assert again.body["id"] == first.body["id"]
    # A 503 in the route itself releases the key too: its retry runs once, and is then replayed.
    inside = Fault("dynamodb", error, when=WHERE["the route's own tables"]("recipients_api"), times=1)
    with injected(inside):
        assert _is_503(_call(account, ROUTES["create recipient"], 0, {"Idempotency-Key": "r"})) == ""
    created = _call(account, ROUTES["create recipient"], 0, {"Idempotency-Key": "r"})
    assert created.status == 201, created.body
    assert _call(account, ROUTES["create recipient"], 0, {"Idempotency-Key": "r"}).body == created.body


@pytest.mark.parametrize("name", ["create recipient", "list recipients", "create webhook endpoint"])
def test_kms_errors_on_an_api_route_are_503_with_retry_after(account: Account, name: str) -> None:
    route = ROUTES[name]
    assert _call(account, ROUTES["create recipient"], 99).status == 201  # something sealed to read back
    for n, error in enumerate(KMS_ERRORS):
        envelope.forget_cached_keys()  # a cold function: the account's data key must come from KMS
        with injected(Fault("kms", error, operation="Decrypt")) as (fault,):
            answer = _call(account, route, n)
        assert fault.hits >= 1, error
        assert _is_503(answer) == "", error
        assert 200 <= _call(account, route, n).status < 300, error


@pytest.mark.usefixtures("identity", "queues")
@pytest.mark.parametrize("error", [faults.DYNAMODB_THROTTLED, faults.DYNAMODB_INTERNAL], ids=lambda e: e[1])
def test_a_busy_authorizer_is_503_not_500(error: tuple[int, str]) -> None:
    from tests.integration.identity.gateway import call, login, register  # noqa: PLC0415 - identity world only

    register("busy@example.com", "Busy Co")
    token = login("busy@example.com")
    with injected(Fault("dynamodb", error, when=in_function("authorizer"))) as (fault,):
        answers = [call("GET", "/v1/me", token=token), call("POST", "/v1/recipients", {"phone": PHONE}, token=token)]
    assert fault.hits >= 2
    for answer in answers:
        assert answer.status == 503 and answer.body["code"] == "service_unavailable", answer.body
        assert answer.headers["Retry-After"] == "1"
    assert call("GET", "/v1/me", token=token).status == 200


# --- the send path: nothing accepted is lost, nothing is sent twice -------------------------------------------


def _event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return sqs_event(messages, "arn:aws:sqs:eu-west-1:123456789012:q")


def _work(queues: Queues) -> dict[str, Any]:
    result: dict[str, Any] = send_worker.lambda_handler(_event(queues.drain("SmsSend")), Context())
    return result


def _release() -> dict[str, Any]:
    report: dict[str, Any] = release_job.lambda_handler({}, Context())
    return report


def _delivered(body: str) -> int:
    return sum(1 for d in sandbox.deliveries() if d.body == body)


def _send(account: Account, rid: str, body: str, key: str | None = None) -> Answer:
    headers = {"Idempotency-Key": key} if key else None
    payload = {"channel": "sms", "recipient_id": rid, "body": body}
    return account.call(messages_api, "POST", "/v1/messages", payload, headers=headers)


@pytest.mark.parametrize(
    "error", [faults.SQS_INTERNAL, faults.SQS_KMS_THROTTLED, (403, "AccessDenied")], ids=lambda e: e[1]
)
def test_a_failed_queue_send_after_the_write_loses_nothing_and_sends_once(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    sandbox.reset()
    rid = opted_in(account, recipients_api, PHONE)
    with injected(Fault("sqs", error, operation="SendMessage")) as (fault,):
        accepted = _send(account, rid, "outbox", key="send-1")
    assert fault.hits == 1
    # Accepted: stored in the outbox (the held index), not on the queue yet.
    assert accepted.status == 202, accepted.body
    message_id = accepted.body["id"]
    assert queues.drain("SmsSend") == []
    raw = messaging_table.get(account_pk(account.account_id), messages_dal.message_sk(message_id)) or {}
    assert raw.get("gsi2pk") == messages_dal.HELD_PARTITION
    # The client's retry with its key is a replay, not a second message.
    retried = _send(account, rid, "outbox", key="send-1")
    assert retried.body == accepted.body and retried.headers.get("Idempotency-Replay") == "true"
    assert _release()["released"] == 1
    _work(queues)
    assert _delivered("outbox") == 1
    # The release job and the worker run again: nothing left to release, nothing sent twice.
    assert _release()["released"] == 0
    _work(queues)
    assert _delivered("outbox") == 1
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert log["status"] == "sent" and [a["outcome"] for a in log["attempts"]] == ["accepted"]


@pytest.mark.parametrize("error", TRANSIENT_DYNAMODB, ids=lambda e: e[1])
def test_a_message_queued_but_not_unheld_is_sent_once(account: Account, queues: Queues, error: tuple[int, str]) -> None:
    sandbox.reset()
    rid = opted_in(account, recipients_api, PHONE)
    unhold = Fault(
        "dynamodb",
        error,
        operation="UpdateItem",
        when=lambda f, p: f == "messages_api" and "REMOVE gsi2pk" in p.get("UpdateExpression", ""),
    )
    with injected(unhold) as (fault,):
        accepted = _send(account, rid, "twice queued")
    assert fault.hits == 1 and accepted.status == 202
    records = queues.drain("SmsSend")
    assert len(records) == 1
    # The release job queues a second record for it; the worker sends the message once whatever it receives.
    assert _release()["released"] == 1
    records += queues.drain("SmsSend")
    assert len(records) == 2
    # Both records in one batch: one takes the message's lease, the other may be put back (its lease is held);
    # when it comes back the message is sent already, and it is dropped.
    for _ in range(3):
        failed = {
            f["itemIdentifier"] for f in send_worker.lambda_handler(_event(records), Context())["batchItemFailures"]
        }
        records = [r for r in records if r["MessageId"] in failed]
        if not records:
            break
    assert records == []
    assert _delivered("twice queued") == 1


@pytest.mark.parametrize("error", [faults.DYNAMODB_THROTTLED, faults.KMS_THROTTLING], ids=lambda e: e[1])
def test_a_worker_batch_with_one_failing_record_reports_only_it_and_a_redelivery_sends_nothing_twice(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    sandbox.reset()
    rid = opted_in(account, recipients_api, PHONE)
    ids = [_send(account, rid, f"batch {n}").body["id"] for n in range(4)]
    records = queues.drain("SmsSend")
    assert len(records) == 4
    doomed = ids[2]
    record_of = {json.loads(r["Body"])["message_id"]: r["MessageId"] for r in records}
    if error[1] == "ThrottlingException":  # KMS: opening the doomed message's sealed fields fails
        envelope.forget_cached_keys()
        fault = Fault("kms", error, operation="Decrypt", when=in_function("sms_send_worker"))
    else:  # DynamoDB: reading the doomed message fails
        fault = Fault(
            "dynamodb",
            error,
            operation="GetItem",
            when=lambda f, p: f == "sms_send_worker" and doomed in json.dumps(p.get("Key", {})),
        )
    with injected(fault):
        result = send_worker.lambda_handler(_event(records), Context())
    assert fault.hits >= 1
    if error[1] == "ThrottlingException":
        # Every record needs the account's key: every record fails, and each is reported (none is lost).
        assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(record_of.values())
    else:
        assert result["batchItemFailures"] == [{"itemIdentifier": record_of[doomed]}]
    # The worker crashed before SQS deleted anything: the whole batch comes again.
    result = send_worker.lambda_handler(_event(records), Context())
    assert result["batchItemFailures"] == []
    assert [_delivered(f"batch {n}") for n in range(4)] == [1, 1, 1, 1]


@pytest.mark.parametrize("error", [faults.SQS_INTERNAL, faults.SQS_KMS_THROTTLED], ids=lambda e: e[1])
def test_a_failed_broadcast_enqueue_after_the_write_loses_nothing_and_sends_each_once(
    account: Account, queues: Queues, error: tuple[int, str]
) -> None:
    sandbox.reset()
    phones = [f"+1415555{4000 + n:04d}" for n in range(12)]
    rids = [opted_in(account, recipients_api, phone) for phone in phones]
    list_id = account.call(recipients_api, "POST", "/v1/lists", {"name": "all"}).body["id"]
    added = account.call(recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": rids})
    assert added.status < 300, added.body
    payload = {"list_id": list_id, "channel": "sms", "body": "to all"}
    clock.advance(60)  # the setup spent the key's burst: the rate limits are not under test
    # The second batch of 10 fails: the first is on the queue already, the rest is not.
    with injected(Fault("sqs", error, operation="SendMessageBatch", when=lambda f, p: len(p["Entries"]) < 10)):
        accepted = account.call(messages_api, "POST", "/v1/broadcasts", payload)
    assert accepted.status == 202 and accepted.body["accepted"] == 12, accepted.body
    assert _release()["released"] == 12  # every message of the broadcast was put in the outbox
    for _ in range(3):  # the worker runs as often as SQS hands it records (duplicates included)
        _work(queues)
    assert sorted(d.to for d in sandbox.deliveries() if d.body == "to all") == sorted(phones)

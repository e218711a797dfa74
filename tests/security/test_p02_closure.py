"""Finding 2: a closed (or suspended) account's traffic stops at once and is kept; restore releases what is valid.

Every outbound path is covered, each while the account may not act: scheduled sends (release job), queued sends
(send worker), HELP answers (inbound is still recorded, STOP still opts out) and webhooks (endpoints and a message's
callback_url). After a restore each goes out once if still valid, else it expires; a purge takes what is held with
the account. `POST /v1/messages/{id}/cancel` races the send worker and the release job: exactly one side wins.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from functions.callback_worker import handler as callback_worker
from functions.messages_api import handler as messages_api
from functions.purge_job import handler as purge_job
from functions.recipients_api import handler as recipients_api
from functions.release_job import handler as release_job
from local.workers import sqs_event
from switchboard import clock
from switchboard.carriers import sandbox
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import closure as closure_dal
from switchboard.dal import messages as messages_dal
from switchboard.logic import closure, standing
from tests.integration.conftest import Context, set_account_status
from tests.integration.messaging.conftest import Account, Queues, make_account, opted_in
from tests.integration.messaging.test_messages import PHONE, callbacks, inbound, send, work
from tests.integration.moto_atomic import serialized_moto
from tests.integration.webhooks.conftest import Listener, add_endpoint
from tests.security import local_stack

ALL_EVENTS = {"message.status", "message.inbound", "recipient.opted_out"}
HOUR = 3600


@pytest.fixture(autouse=True)
def _sandbox_clean() -> Iterator[None]:
    sandbox.reset()
    yield
    sandbox.reset()


# --- closing and reopening, as DELETE /v1/account and POST /v1/account/restore do (after their authentication) ----


def close(account: Account, how: str) -> None:
    """`deletion`: the write DELETE /v1/account makes; `suspension`: any status but active holds the same way."""
    now = int(clock.timestamp())
    if how == "deletion":
        assert closure_dal.mark_pending(account.account_id, now=now, purge_after=now + closure.GRACE_S)
    else:
        set_account_status(account.account_id, "suspended")
    assert not standing.allowed(account.account_id)


def reopen(account: Account, how: str) -> None:
    """`deletion`: the restore's own step (logic.closure); `suspension`: active again, then the same resume."""
    item = accounts_dal.get_account(account.account_id)
    assert item is not None
    if how == "deletion":
        closure._restore_account(item)
    else:
        set_account_status(account.account_id, "active")
        standing.resume(account.account_id)
    assert standing.allowed(account.account_id)


def release() -> dict[str, Any]:
    result: dict[str, Any] = release_job.lambda_handler({}, Context())
    return result


def deliver_webhooks(queues: Queues) -> dict[str, Any]:
    """Run the callback worker over what is on the Callbacks queue now (nothing there: nothing to run)."""
    messages = queues.drain("Callbacks")
    if not messages:
        return {"batchItemFailures": [], "records": 0}
    result: dict[str, Any] = callback_worker.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()
    )
    return {**result, "records": len(messages)}


def status(account: Account, message_id: str) -> str:
    answer = account.call(messages_api, "GET", f"/v1/messages/{message_id}")
    assert answer.status == 200, answer.body
    result: str = answer.body["status"]
    return result


def held_items(account_id: str) -> list[dict[str, Any]]:
    """Everything of the account on its hold partition, or marked as held."""
    client = boto3.client("dynamodb")
    found = []
    for page in client.get_paginator("scan").paginate(TableName="test-Messaging"):
        for raw in page["Items"]:
            item = closure_dal.plain(raw)
            if item.get("gsi2pk") == f"HOLD#{account_id}" or str(item.get("sk", "")).startswith("HOLD#"):
                found.append(item)
    return found


HOW = ["deletion", "suspension"]


# --- scheduled and queued sends ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("validity_s", "outcome"), [(None, "sent"), (1800, "expired")])
def test_scheduled_send_is_held_while_closed_and_released_once_on_restore(
    account: Account, queues: Queues, how: str, validity_s: int | None, outcome: str
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    later = clock.rfc3339(clock.now() + timedelta(hours=1))
    fields: dict[str, Any] = {"recipient_id": rid, "send_at": later}
    if validity_s is not None:
        fields["validity_s"] = validity_s
    message_id = send(account, **fields).body["id"]
    close(account, how)
    clock.advance(2 * HOUR)
    first = release()
    assert (first["held"], first["released"], first["expired"]) == (1, 0, 0)
    assert release()["held"] == 0  # off the release job's index: not read every minute while closed
    work(queues)
    assert sandbox.deliveries() == []
    assert status(account, message_id) == "queued"

    reopen(account, how)
    after = release()
    assert after["resumed"] == 1
    assert (after["released"], after["expired"]) == ((1, 0) if outcome == "sent" else (0, 1))
    work(queues)
    for _ in range(2):  # later runs and redeliveries send nothing again
        release()
        work(queues)
    assert len(sandbox.deliveries()) == (1 if outcome == "sent" else 0)
    assert status(account, message_id) == outcome
    assert held_items(account.account_id) == []


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("validity_s", "outcome"), [(None, "sent"), (600, "expired")])
def test_queued_send_is_never_handed_to_a_carrier_while_closed(
    account: Account, queues: Queues, how: str, validity_s: int | None, outcome: str
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    fields: dict[str, Any] = {"recipient_id": rid}
    if validity_s is not None:
        fields["validity_s"] = validity_s
    message_id = send(account, **fields).body["id"]
    close(account, how)
    assert work(queues)["batchItemFailures"] == []  # the record is consumed: the message itself is kept
    assert sandbox.deliveries() == []
    assert status(account, message_id) == "queued"
    assert release()["held"] == 0
    clock.advance(HOUR)

    reopen(account, how)
    release()
    work(queues)
    release()
    work(queues)
    assert len(sandbox.deliveries()) == (1 if outcome == "sent" else 0)
    assert status(account, message_id) == outcome


def test_restore_then_close_again_before_the_release_keeps_everything_held(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    close(account, "deletion")
    work(queues)
    reopen(account, "deletion")
    close(account, "suspension")  # closed again before the release job's run
    assert release()["resumed"] == 0
    work(queues)
    assert sandbox.deliveries() == []
    reopen(account, "suspension")
    release()
    work(queues)
    assert [d.to for d in sandbox.deliveries()] == [PHONE]
    assert status(account, message_id) == "sent"


def test_a_hold_that_lands_after_the_restore_goes_back_to_the_release_job(account: Account, queues: Queues) -> None:
    # The worker read "closed"; then the restore and the release job's run both happened before its hold was
    # written. No resume will come for that hold: it must see the account active and hand the message back itself.
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid).body["id"]
    assert len(queues.drain("SmsSend")) == 1  # the record that worker took
    item = messages_dal.get(account.account_id, message_id)
    assert item is not None
    assert standing.hold_message(item)
    assert held_items(account.account_id) == []
    assert release()["released"] == 1
    work(queues)
    assert status(account, message_id) == "sent"


def test_a_resume_request_written_while_the_release_ran_is_served_by_the_next_run(
    account: Account, queues: Queues, listener: Listener
) -> None:
    add_endpoint(account.account_id, "whe_1", listener.url, ALL_EVENTS)
    close(account, "deletion")
    assert inbound(account, "hello").status == 200
    deliver_webhooks(queues)
    reopen(account, "deletion")
    [served] = [i for i in held_items(account.account_id) if i["sk"] == "HOLD#RESUME"]
    standing.resume(account.account_id)  # a late hold asks again while the run that read `served` is going on
    assert standing.release(account.account_id, served["token"]) == 1
    assert [i["sk"] for i in held_items(account.account_id)] == ["HOLD#RESUME"]  # the newer request survives
    assert release()["resumed"] == 0
    assert held_items(account.account_id) == []
    deliver_webhooks(queues)
    assert [json.loads(r.body)["type"] for r in listener.received] == ["message.inbound"]


# --- inbound: recorded, STOP honoured, HELP not answered while closed ------------------------------------------


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("closed_for_s", "answered"), [(60, True), (2 * HOUR, False)])
def test_inbound_help_is_recorded_but_answered_only_after_restore_within_the_hour(
    account: Account, queues: Queues, how: str, closed_for_s: int, answered: bool
) -> None:
    close(account, how)
    assert inbound(account, "HELP").status == 200
    work(queues)
    assert sandbox.deliveries() == []
    kept = [
        closure_dal.plain(i)
        for i in boto3.client("dynamodb").scan(TableName="test-Messaging")["Items"]
        if i["sk"]["S"].startswith(("INB#", "MSG#"))
    ]
    assert sorted(i["sk"][:4] for i in kept) == ["INB#", "MSG#"]  # the inbound message and the held answer
    clock.advance(closed_for_s)
    reopen(account, how)
    release()
    work(queues)
    replies = sandbox.deliveries()
    assert [r.to for r in replies] == ([PHONE] if answered else [])
    if answered:
        assert "STOP" in replies[0].body


@pytest.mark.parametrize("how", HOW)
def test_stop_while_closed_opts_out_at_once_and_fails_held_sends(account: Account, queues: Queues, how: str) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    queued = send(account, recipient_id=rid).body["id"]
    scheduled = send(account, recipient_id=rid, send_at=clock.rfc3339(clock.now() + timedelta(hours=1))).body["id"]
    close(account, how)
    work(queues)
    assert inbound(account, "STOP").status == 200
    recipient = account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body
    assert recipient["consent"]["sms"] == "opted_out"  # recorded while closed, not held
    clock.advance(HOUR)
    reopen(account, how)
    release()
    work(queues)
    assert sandbox.deliveries() == []
    for message_id in (queued, scheduled):
        answer = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
        assert (answer["status"], answer["error"]["code"]) == ("failed", "consent_required")


# --- webhooks -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_webhooks_in_flight_and_new_ones_are_held_then_each_delivered_once(
    account: Account, queues: Queues, listener: Listener, how: str
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    add_endpoint(account.account_id, "whe_1", listener.url.replace("/hook", "/endpoint"), ALL_EVENTS)
    request = {"channel": "sms", "body": "Hello", "recipient_id": rid, "callback_url": listener.url}
    assert account.call(messages_api, "POST", "/v1/messages", request).status == 202
    work(queues)  # sending, sent: webhooks queued (in flight) for the endpoint and the callback_url
    assert inbound(account, "hello there").status == 200  # message.inbound, in flight
    close(account, how)
    callbacks()  # the carrier's `delivered` receipt arrives while closed: recorded, its webhooks held
    assert inbound(account, "STOP").status == 200  # recipient.opted_out and message.inbound, held
    for _ in range(2):
        report = deliver_webhooks(queues)
        assert report["batchItemFailures"] == []
    assert listener.received == []
    held = [i for i in held_items(account.account_id) if i["sk"].startswith("HOLD#HOOK#")]
    # sending, sent, delivered to the endpoint and the callback_url; two inbound messages; one opt-out
    assert len(held) == 9

    reopen(account, how)
    assert release()["resumed"] == 9
    deliver_webhooks(queues)
    deliver_webhooks(queues)
    events = [json.loads(r.body) for r in listener.received]
    by_target: dict[str, list[str]] = {}
    for request_, event in zip(listener.received, events, strict=True):
        by_target.setdefault(request_.path, []).append(event["id"])
    assert all(len(ids) == len(set(ids)) for ids in by_target.values())  # nothing delivered twice
    assert sorted(e["type"] for e in events) == sorted(
        ["message.status"] * 6 + ["message.inbound"] * 2 + ["recipient.opted_out"]
    )
    callback = [json.loads(r.body)["data"]["status"] for r in listener.received if r.path == "/hook"]
    assert sorted(callback) == ["delivered", "sending", "sent"]
    assert held_items(account.account_id) == []


def test_purge_removes_what_is_held_with_the_account(
    account: Account, queues: Queues, listener: Listener, aws: dict[str, str]
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    add_endpoint(account.account_id, "whe_1", listener.url, ALL_EVENTS)
    send(account, recipient_id=rid, send_at=clock.rfc3339(clock.now() + timedelta(hours=1)))
    send(account, recipient_id=rid)
    close(account, "deletion")
    inbound(account, "HELP")
    work(queues)
    clock.advance(HOUR)
    release()
    assert len(held_items(account.account_id)) == 3  # two sends and the HELP answer
    clock.advance(closure.GRACE_S + 60)
    purge_job.lambda_handler({}, Context())
    assert standing.of(account.account_id) is standing.Standing.GONE
    assert held_items(account.account_id) == []
    assert release() == {"released": 0, "expired": 0, "held": 0, "resumed": 0, "skipped": 0}
    # The inbound webhook still on the queue is dropped, not kept for an account that is gone.
    assert deliver_webhooks(queues) == {"batchItemFailures": [], "records": 1}
    assert held_items(account.account_id) == []
    assert sandbox.deliveries() == [] and listener.received == []


# --- cancel ------------------------------------------------------------------------------------------------


def cancel(account: Account, message_id: str, role: str = "developer") -> Any:
    return account.call(messages_api, "POST", f"/v1/messages/{message_id}/cancel", role=role)


@pytest.mark.parametrize("scheduled", [False, True])
def test_cancel_a_queued_or_scheduled_message(
    account: Account, queues: Queues, listener: Listener, scheduled: bool
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    add_endpoint(account.account_id, "whe_1", listener.url, {"message.status"})
    fields: dict[str, Any] = {"recipient_id": rid}
    if scheduled:
        fields["send_at"] = clock.rfc3339(clock.now() + timedelta(hours=1))
    message_id = send(account, **fields).body["id"]
    assert cancel(account, message_id, role="viewer").status == 403  # the roles that may send may cancel
    answer = cancel(account, message_id)
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "canceled"
    assert [e["status"] for e in answer.body["events"]] == ["queued", "canceled"]
    again = cancel(account, message_id)
    assert (again.status, again.headers["Content-Type"], again.body["code"]) == (
        409,
        "application/problem+json",
        "message_not_cancelable",
    )
    clock.advance(2 * HOUR)
    assert release()["released"] == 0
    work(queues)
    assert sandbox.deliveries() == []
    deliver_webhooks(queues)
    [event] = [json.loads(r.body) for r in listener.received]
    assert (event["type"], event["data"]["id"], event["data"]["status"]) == ("message.status", message_id, "canceled")


def test_cancel_after_the_worker_took_it_or_of_another_account_fails(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    sent = send(account, recipient_id=rid).body["id"]
    work(queues)
    refused = cancel(account, sent)
    assert (refused.status, refused.body["code"]) == (409, "message_not_cancelable")
    assert status(account, sent) == "sent"

    stranger = make_account()
    mine = send(account, recipient_id=rid, send_at=clock.rfc3339(clock.now() + timedelta(hours=1))).body["id"]
    for message_id in (mine, "msg_unknown", "not-an-id"):
        answer = cancel(stranger, message_id)
        assert (answer.status, answer.body["code"]) == (404, "not_found")
    assert status(account, mine) == "queued"


def _race(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None, None]
    start = threading.Barrier(2)

    def run(n: int, action: Callable[[], Any]) -> None:
        start.wait()
        results[n] = action()

    threads = [threading.Thread(target=run, args=(n, a)) for n, a in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("path", ["send_worker", "release_job"])
@pytest.mark.parametrize("round_", range(2))
def test_cancel_racing_the_worker_or_release_has_exactly_one_winner(
    account: Account, queues: Queues, path: str, round_: int
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    fields: dict[str, Any] = {"recipient_id": rid}
    if path == "release_job":
        fields["send_at"] = clock.rfc3339(clock.now() + timedelta(hours=1))
    message_id = send(account, **fields).body["id"]
    if path == "release_job":
        clock.advance(HOUR)

    def pipeline() -> None:
        if path == "release_job":
            release()
        work(queues)

    with serialized_moto():
        cancel_answer, _ = _race(lambda: cancel(account, message_id), pipeline)
    work(queues)  # whatever the race left on the queue
    final = status(account, message_id)
    delivered = len(sandbox.deliveries())
    if cancel_answer.status == 200:
        assert (final, delivered) == ("canceled", 0)
    else:
        assert (cancel_answer.status, cancel_answer.body["code"]) == (409, "message_not_cancelable")
        assert (final, delivered) == ("sent", 1)


# --- through the local stack: DELETE /v1/account, POST /v1/account/restore, the release job, the workers ----------


def _wait(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_closure_and_restore_through_the_local_stack(listener: Listener) -> None:
    stack = local_stack.running()
    client = next(stack)
    try:
        status_, endpoint = client.json(
            "POST", "/v1/webhook-endpoints", {"url": listener.url, "events": sorted(ALL_EVENTS)}
        )
        assert status_ == 201, endpoint
        status_, recipient = client.json("POST", "/v1/recipients", {"phone": PHONE})
        assert status_ == 201, recipient
        consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
        assert client.json("POST", f"/v1/recipients/{recipient['id']}/consents", consent)[0] == 201
        status_, account = client.json("GET", "/v1/account")
        sender = next(s["number"] for s in account["senders"] if s["channel"] == "sms")
        later = clock.rfc3339(clock.now() + timedelta(hours=1))
        message = {"channel": "sms", "body": "Later", "recipient_id": recipient["id"], "send_at": later}
        status_, scheduled = client.json("POST", "/v1/messages", message)
        assert status_ == 202, scheduled
        status_, canceled = client.json("POST", "/v1/messages", message)
        assert client.json("POST", f"/v1/messages/{canceled['id']}/cancel")[0] == 200
        assert _wait(lambda: len(listener.received) == 1)  # the cancel's `message.status`, while still open
        assert json.loads(listener.received[0].body)["data"]["status"] == "canceled"
        listener.received.clear()

        status_, closed = client.json("DELETE", "/v1/account", {"password": local_stack.PASSWORD})
        assert (status_, closed["status"]) == (202, "pending_deletion")
        assert client.json("POST", "/_local/clock", {"advance_s": HOUR}, auth=False)[0] == 200
        status_, report = client.json("POST", "/_local/jobs/release", auth=False)
        assert status_ == 200, report
        help_ = {"from": PHONE, "to": sender, "body": "HELP"}
        assert client.json("POST", "/_local/carriers/sandbox-a/inbound", help_, auth=False)[0] == 200
        time.sleep(3)  # the send and webhook workers poll their queues: they would have acted by now
        assert client.json("GET", "/_local/deliveries", auth=False)[1]["data"] == []
        assert listener.received == []

        restore = {"email": local_stack.OWNER, "password": local_stack.PASSWORD}
        assert client.json("POST", "/v1/account/restore", restore, auth=False)[0] == 200
        client.login()
        assert client.json("POST", "/_local/jobs/release", auth=False)[0] == 200

        def delivered() -> list[dict[str, Any]]:
            return list(client.json("GET", "/_local/deliveries", auth=False)[1]["data"])

        assert _wait(lambda: len(delivered()) == 2), delivered()
        assert sorted(d["body"][:5] for d in delivered()) == sorted(["Later", "Acme:"])
        assert _wait(lambda: any(json.loads(r.body)["type"] == "message.inbound" for r in listener.received))
        assert client.json("GET", f"/v1/messages/{scheduled['id']}")[1]["status"] in ("sent", "delivered")
        assert client.json("GET", f"/v1/messages/{canceled['id']}")[1]["status"] == "canceled"
        time.sleep(1)
        assert len(delivered()) == 2  # nothing sent twice
    finally:
        stack.close()

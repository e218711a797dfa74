"""Per-message callback_url (signed status events, own secret, retries, SSRF rules) and WhatsApp's 24-hour window."""

import json
import time
from typing import Any

import boto3
import pytest

from functions.callback_worker import handler as callback_worker
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from local.workers import sqs_event
from switchboard import clock, settings
from switchboard.dal.keys import account_pk
from switchboard.logic import webhooks
from tests.integration.conftest import Context
from tests.integration.messaging.conftest import Account, Queues, add_template, opted_in
from tests.integration.messaging.test_messages import PHONE, callbacks, inbound, send, work
from tests.integration.webhooks.conftest import Listener, add_endpoint

TEMPLATE = {"name": "order_update", "language": "en_US", "parameters": ["A-17"]}
ORDER_UPDATE = "Your order {{1}} is on its way."
DAY_S = 86400


def deliver_callbacks(queues: Queues, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the callback worker over what is on the Callbacks queue now, as the event source does."""
    messages = queues.drain("Callbacks") if messages is None else messages
    assert messages, "no webhook job queued"
    result: dict[str, Any] = callback_worker.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()
    )
    return result


def test_callback_url_gets_every_status_signed_with_the_message_secret(
    account: Account, queues: Queues, listener: Listener, aws: dict[str, str]
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    add_endpoint(account.account_id, "whe_1", listener.url.replace("/hook", "/endpoint"), {"message.status"})
    key = {"Idempotency-Key": "send-with-callback"}
    request = {"channel": "sms", "body": "Hello Ada", "recipient_id": rid, "callback_url": listener.url}
    answer = account.call(messages_api, "POST", "/v1/messages", request, headers=key)
    assert answer.status == 202, answer.body
    secret = answer.body["callback_secret"]
    assert secret.startswith("whsec_") and len(secret) >= 6 + 43  # 256 bits, base64url
    replay = account.call(messages_api, "POST", "/v1/messages", request, headers=key)
    # The secret is shown once: a replay names the message it queued, never the secret (docs/idempotency.md).
    assert (replay.status, replay.body["code"], replay.body["id"]) == (
        409,
        "idempotency_secret_shown",
        answer.body["id"],
    )
    assert secret not in json.dumps(replay.body)
    message_id = answer.body["id"]
    shown = account.call(messages_api, "GET", f"/v1/messages/{message_id}")
    assert "callback_secret" not in shown.body
    assert shown.body["callback_url"] == listener.url
    assert shown.body["callbacks"] == []

    work(queues)
    callbacks()  # the sandbox's delivered receipt
    jobs = [json.loads(j["Body"]) for j in queues.drain("Callbacks")]
    # Each event goes to the endpoint and to the message's callback_url: one event id, two jobs.
    assert sorted(j.get("message_id") or j["endpoint_id"] for j in jobs) == [message_id] * 3 + ["whe_1"] * 3
    assert all(sum(j["event_id"] == other["event_id"] for other in jobs) == 2 for j in jobs)
    queues.sqs.purge_queue(QueueUrl=queues.urls["Callbacks"])
    for job in jobs:
        queues.sqs.send_message(QueueUrl=queues.urls["Callbacks"], MessageBody=json.dumps(job))
    assert deliver_callbacks(queues) == {"batchItemFailures": []}

    statuses = []
    for request in [r for r in listener.received if r.path == "/hook"]:
        assert webhooks.verify_signature(
            secret, request.headers["switchboard-signature"], request.body, clock.timestamp()
        )
        event = json.loads(request.body)
        assert (event["type"], event["data"]["id"]) == ("message.status", message_id)
        assert request.headers["switchboard-event-id"] == event["id"]
        statuses.append(event["data"]["status"])
    assert sorted(statuses) == ["delivered", "sending", "sent"]
    endpoint_requests = [r for r in listener.received if r.path == "/endpoint"]
    assert len(endpoint_requests) == 3
    assert not any(
        webhooks.verify_signature(secret, r.headers["switchboard-signature"], r.body, clock.timestamp())
        for r in endpoint_requests
    )  # the endpoint has its own secret
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body["callbacks"]
    assert [(c["attempt"], c["status_code"], c["outcome"]) for c in log] == [(1, 200, "delivered")] * 3
    # The secret is stored sealed only.
    dynamo = boto3.client("dynamodb")
    for table in aws.values():
        assert secret not in str(dynamo.scan(TableName=table)["Items"])


def test_callback_url_retries_a_failed_attempt_with_backoff(
    account: Account, queues: Queues, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_S", "1")
    settings.reload()
    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid, callback_url=listener.url, validity_s=600).body["id"]
    listener.plan.append((500, {}))
    work(queues)  # queued -> sending -> sent: two events
    first = queues.drain("Callbacks")
    assert len(deliver_callbacks(queues, first)["batchItemFailures"]) == 1
    retried = queues.drain("Callbacks")
    deadline = time.monotonic() + 6
    while not retried and time.monotonic() < deadline:  # hidden for the backoff (1 s +/- 10 %), then back
        time.sleep(0.2)
        retried = queues.drain("Callbacks")
    assert retried, "the failed job never came back"
    assert deliver_callbacks(queues, retried) == {"batchItemFailures": []}
    assert len(listener.received) == 3
    event_ids = [r.headers["switchboard-event-id"] for r in listener.received]
    assert len(set(event_ids)) == 2  # the retried event came again, with its id
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body["callbacks"]
    by_event = {c["event_id"]: [] for c in log}
    for entry in reversed(log):  # oldest first
        by_event[entry["event_id"]].append((entry["attempt"], entry["status_code"], entry["outcome"]))
    assert sorted(by_event.values()) == [[(1, 200, "delivered")], [(1, 500, "failed"), (2, 200, "delivered")]]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest",
        "https://[::ffff:10.0.0.1]/",
        "https://user:pw@hooks.example/",
        "http://hooks.example/",
        "https://hooks.example:8443/",
        "ftp://x",
    ],
)
def test_callback_url_is_held_to_the_webhook_ssrf_rules(account: Account, queues: Queues, url: str) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    answer = send(account, recipient_id=rid, callback_url=url)
    assert answer.status == 422, answer.body
    assert answer.body["errors"][0]["pointer"] == "/callback_url"
    assert queues.drain("SmsSend") == []


def test_callback_for_a_deleted_message_is_dropped(account: Account, queues: Queues, listener: Listener) -> None:
    from switchboard.dal import messages as store  # noqa: PLC0415
    from switchboard.dal import messaging_table as table  # noqa: PLC0415

    rid = opted_in(account, recipients_api, PHONE)
    message_id = send(account, recipient_id=rid, callback_url=listener.url).body["id"]
    work(queues)
    table.delete(account_pk(account.account_id), store.message_sk(message_id))
    assert deliver_callbacks(queues) == {"batchItemFailures": []}
    assert listener.received == []


# --- WhatsApp's 24-hour customer-service window (R62) ---------------------------------------------------------


def test_whatsapp_free_form_needs_an_inbound_within_24_hours(account: Account, queues: Queues) -> None:
    add_template(account, "order_update", "en_US", ORDER_UPDATE)
    rid = opted_in(account, recipients_api, PHONE, ("whatsapp",))
    refused = send(account, recipient_id=rid, channel="whatsapp", body="Free text")
    assert (refused.status, refused.body["code"]) == (422, "template_required")
    assert queues.drain("WhatsappSend") == []
    # A template is always allowed (with opt-in).
    assert send(account, recipient_id=rid, channel="whatsapp", body=None, template=TEMPLATE).status == 202
    assert len(queues.drain("WhatsappSend")) == 1
    # An SMS from the same number opens no WhatsApp window.
    assert inbound(account, "hello", channel="sms").status == 200
    assert send(account, recipient_id=rid, channel="whatsapp", body="Free text").status == 422
    # The recipient writes on WhatsApp: free-form replies are allowed for 24 hours.
    assert inbound(account, "Where is my order?", channel="whatsapp").status == 200
    assert send(account, recipient_id=rid, channel="whatsapp", body="On its way").status == 202
    clock.advance(DAY_S - 60)
    assert send(account, to=PHONE, channel="whatsapp", body="Still here").status == 202
    clock.advance(61)
    late = send(account, recipient_id=rid, channel="whatsapp", body="Too late")
    assert (late.status, late.body["code"]) == (422, "template_required")
    assert send(account, recipient_id=rid, channel="whatsapp", body=None, template=TEMPLATE).status == 202


def test_whatsapp_window_is_rechecked_when_the_message_is_sent(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("whatsapp",))
    inbound(account, "hi", channel="whatsapp")
    message_id = send(account, recipient_id=rid, channel="whatsapp", body="Reply").body["id"]
    clock.advance(DAY_S + 1)  # e.g. throttled or retried past the window
    work(queues, "WhatsappSend")
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert (log["status"], log["error"]["code"]) == ("failed", "template_required")


def test_whatsapp_broadcast_skips_free_form_outside_the_window(account: Account, queues: Queues) -> None:
    add_template(account, "order_update", "en_US", ORDER_UPDATE)
    phones = [PHONE, "+14155550002", "+14155550003"]
    rids = [opted_in(account, recipients_api, p, ("whatsapp",)) for p in phones]
    stranger = account.call(recipients_api, "POST", "/v1/recipients", {"phone": "+14155550004"}).body["id"]
    list_id = account.call(recipients_api, "POST", "/v1/lists", {"name": "wa"}).body["id"]
    added = account.call(
        recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [*rids, stranger]}
    )
    assert added.status in {200, 201}, added.body
    inbound(account, "hi", channel="whatsapp")  # only PHONE wrote in
    free = account.call(
        messages_api, "POST", "/v1/broadcasts", {"list_id": list_id, "channel": "whatsapp", "body": "Sale"}
    )
    assert free.status == 202, free.body
    assert (free.body["accepted"], free.body["skipped"]) == (1, {"no_consent": 1, "outside_window": 2})
    assert len(queues.drain("WhatsappSend")) == 1
    templated = account.call(
        messages_api, "POST", "/v1/broadcasts", {"list_id": list_id, "channel": "whatsapp", "template": TEMPLATE}
    )
    assert (templated.body["accepted"], templated.body["skipped"]) == (3, {"no_consent": 1, "outside_window": 0})

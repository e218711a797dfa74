"""The callback worker: signed POSTs to the endpoint, backoff through the queue's visibility, SSRF refusals, log."""

import json
from typing import Any

import pytest

from functions.callback_worker import handler as worker
from local.workers import sqs_event
from switchboard import clock, settings, webhook_client
from switchboard.dal import clients
from switchboard.dal import webhooks as webhooks_dal
from switchboard.logic import webhooks
from switchboard.models.webhooks import MAX_ATTEMPTS
from tests.integration.conftest import Context
from tests.integration.webhooks.conftest import Callbacks, Listener, add_endpoint

SECRET = "whsec_integration"
STATUS = {"message_id": "msg_1", "status": "delivered", "to": "+14155550123"}


@pytest.fixture
def visibility_changes(callbacks: Callbacks) -> list[int]:
    changes: list[int] = []
    clients.client("sqs").meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility",
        lambda params, **_: changes.append(params["VisibilityTimeout"]),
    )
    return changes


def _run(callbacks: Callbacks, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Receive what is visible and hand it to the worker, as the SQS event source does."""
    messages = callbacks.receive() if messages is None else messages
    assert messages, "nothing to deliver"
    result: dict[str, Any] = worker.lambda_handler(sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context())
    return result


def _log(account_id: str, endpoint_id: str) -> list[webhooks_dal.Delivery]:
    items, _ = webhooks_dal.list_deliveries(account_id, endpoint_id, limit=100)
    return items


def test_worker_delivers_a_signed_event_to_a_loopback_listener(callbacks: Callbacks, listener: Listener) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=SECRET)
    assert webhooks.publish("acct_a", "message.status", STATUS) == 1

    assert _run(callbacks) == {"batchItemFailures": []}

    assert len(listener.received) == 1
    request = listener.received[0]
    assert request.path == "/hook"
    event = json.loads(request.body)
    assert event["type"] == "message.status"
    assert event["data"] == STATUS
    assert request.headers["switchboard-event-id"] == event["id"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Switchboard-Webhooks/1"
    assert request.headers["host"] == listener.url.split("/")[2]
    header = request.headers["switchboard-signature"]
    assert webhooks.verify_signature(SECRET, header, request.body, now=clock.timestamp())
    assert not webhooks.verify_signature("whsec_other", header, request.body, now=clock.timestamp())
    assert callbacks.receive() == []  # delivered: deleted from the queue

    [entry] = _log("acct_a", "whe_1")
    assert (entry.event_id, entry.attempt, entry.status_code, entry.outcome) == (event["id"], 1, 200, "delivered")
    assert entry.next_retry_at is None


def test_worker_retries_a_500_with_backoff_then_delivers(
    callbacks: Callbacks, listener: Listener, visibility_changes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_S", "1")
    settings.reload()
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"}, secret=SECRET)
    webhooks.publish("acct_a", "message.status", STATUS)
    listener.plan.append((500, {}))

    first = callbacks.receive()
    result = _run(callbacks, first)
    assert result == {"batchItemFailures": [{"itemIdentifier": first[0]["MessageId"]}]}
    assert visibility_changes == [1]
    assert callbacks.receive() == []  # hidden until its next attempt

    second = callbacks.receive(wait_s=2)
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert _run(callbacks, second) == {"batchItemFailures": []}
    assert len(listener.received) == 2
    assert listener.received[0].headers["switchboard-event-id"] == listener.received[1].headers["switchboard-event-id"]

    newest, oldest = _log("acct_a", "whe_1")
    assert (oldest.attempt, oldest.status_code, oldest.outcome) == (1, 500, "failed")
    assert oldest.next_retry_at is not None
    assert 1 <= oldest.next_retry_at - oldest.at <= 2
    assert (newest.attempt, newest.status_code, newest.outcome) == (2, 200, "delivered")


def test_worker_uses_the_configured_backoff(
    callbacks: Callbacks, listener: Listener, visibility_changes: list[int]
) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    listener.plan.append((503, {}))
    messages = callbacks.receive()
    messages[0]["Attributes"]["ApproximateReceiveCount"] = "5"
    _run(callbacks, messages)
    assert len(visibility_changes) == 1
    assert 0.9 * 480 - 1 <= visibility_changes[0] <= 1.1 * 480 + 1  # 30 s doubled four times


def test_worker_does_not_follow_a_redirect(callbacks: Callbacks, listener: Listener) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    listener.plan.append((302, {"Location": listener.url.replace("/hook", "/elsewhere")}))

    result = _run(callbacks)
    assert len(result["batchItemFailures"]) == 1
    assert [r.path for r in listener.received] == ["/hook"]
    [entry] = _log("acct_a", "whe_1")
    assert (entry.status_code, entry.outcome) == (302, "failed")


def test_worker_refuses_a_name_resolving_to_loopback_when_deployed(
    callbacks: Callbacks, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_endpoint("acct_a", "whe_1", "https://hooks.example.com/hook", {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(webhook_client, "resolve", resolve)
    monkeypatch.setenv("STAGE", "prod")
    settings.reload()

    result = _run(callbacks)
    assert len(result["batchItemFailures"]) == 1
    assert resolved == ["hooks.example.com"]
    assert listener.received == []
    [entry] = _log("acct_a", "whe_1")
    assert entry.outcome == "refused"
    assert entry.status_code is None
    assert "loopback" in (entry.error or "")


def test_worker_drops_jobs_of_a_deleted_endpoint(callbacks: Callbacks, listener: Listener) -> None:
    endpoint = add_endpoint("acct_a", "whe_1", listener.url, {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    webhooks_dal.delete_endpoint(endpoint)

    assert _run(callbacks) == {"batchItemFailures": []}
    assert listener.received == []
    assert callbacks.receive() == []
    assert _log("acct_a", "whe_1") == []


def test_last_attempt_fails_without_rescheduling(
    callbacks: Callbacks, listener: Listener, visibility_changes: list[int]
) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    listener.plan.append((500, {}))
    messages = callbacks.receive()
    messages[0]["Attributes"]["ApproximateReceiveCount"] = str(MAX_ATTEMPTS)

    result = _run(callbacks, messages)
    assert len(result["batchItemFailures"]) == 1  # the redrive moves it to the DLQ on the next receive
    assert visibility_changes == []
    [entry] = _log("acct_a", "whe_1")
    assert (entry.attempt, entry.outcome, entry.next_retry_at) == (MAX_ATTEMPTS, "failed", None)


def test_one_failure_does_not_fail_the_batch(callbacks: Callbacks, listener: Listener) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.status"})
    add_endpoint("acct_a", "whe_2", listener.url.replace("/hook", "/other"), {"message.status"})
    webhooks.publish("acct_a", "message.status", STATUS)
    messages = callbacks.receive()
    assert len(messages) == 2
    bodies = {m["MessageId"]: json.loads(m["Body"])["endpoint_id"] for m in messages}
    listener.plan.append((500, {}))  # whichever arrives first fails (the two endpoints post in parallel)

    result = _run(callbacks, messages)
    [failure] = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    [delivered] = set(bodies) - {failure}
    assert {e.outcome for e in _log("acct_a", bodies[failure])} == {"failed"}
    assert {e.outcome for e in _log("acct_a", bodies[delivered])} == {"delivered"}


def test_delivery_logs_no_secret_phone_or_body(
    callbacks: Callbacks, listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    add_endpoint("acct_a", "whe_1", listener.url, {"message.inbound"}, secret=SECRET)
    inbound = {"message_id": "msg_9", "from": "+14155550199", "body": "my secret plans"}
    webhooks.publish("acct_a", "message.inbound", inbound)
    listener.plan.append((500, {}))
    _run(callbacks)
    # Every attribute of every record: the message, the extra keys and any exception text.
    text = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "webhook attempt" in text  # the worker did log this attempt
    assert "'outcome': 'failed'" in text
    for value in (
        SECRET,
        "+14155550199",
        "5550199",
        "my secret plans",
        listener.received[0].headers["switchboard-signature"],
    ):
        assert value not in text

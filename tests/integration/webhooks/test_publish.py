"""publish: one sealed job per subscribed endpoint on the Callbacks queue, nothing personal in plaintext."""

import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from switchboard.crypto import envelope
from switchboard.dal import clients
from switchboard.logic import webhooks
from switchboard.models.webhooks import DeliveryJob
from tests.integration.webhooks.conftest import Callbacks, add_endpoint

PHONE = "+14155550123"
BODY = "Meet me at the usual place at 7"


def _inbound() -> dict[str, Any]:
    return {"message_id": "msg_1", "from": PHONE, "to": "+14155550100", "body": BODY, "channel": "sms"}


def test_publish_queues_one_sealed_job_per_subscribed_endpoint(callbacks: Callbacks) -> None:
    add_endpoint("acct_a", "whe_1", "https://hooks.example.com/a", {"message.inbound", "message.status"})
    add_endpoint("acct_a", "whe_2", "https://hooks.example.com/b", {"message.inbound"})
    add_endpoint("acct_a", "whe_3", "https://hooks.example.com/c", {"message.status"})
    add_endpoint("acct_b", "whe_4", "https://hooks.example.com/d", {"message.inbound"})

    assert webhooks.publish("acct_a", "message.inbound", _inbound()) == 2

    messages = callbacks.receive()
    assert len(messages) == 2
    for message in messages:
        assert PHONE not in message["Body"]
        assert "+1415555" not in message["Body"]
        assert BODY not in message["Body"]
        assert "usual place" not in message["Body"]
    jobs = [DeliveryJob.model_validate_json(m["Body"]) for m in messages]
    assert {j.endpoint_id for j in jobs} == {"whe_1", "whe_2"}
    assert {j.account_id for j in jobs} == {"acct_a"}
    assert len({j.event_id for j in jobs}) == 1
    event = json.loads(webhooks.open_event(jobs[0]))
    assert event["id"] == jobs[0].event_id
    assert event["id"].startswith("evt_")
    assert event["type"] == "message.inbound"
    assert event["data"] == _inbound()
    assert event["created_at"].endswith("Z")


def test_publish_without_subscribers_queues_nothing(callbacks: Callbacks) -> None:
    add_endpoint("acct_a", "whe_1", "https://hooks.example.com/a", {"message.status"})
    assert webhooks.publish("acct_a", "recipient.opted_out", {"recipient_id": "rcp_1"}) == 0
    assert webhooks.publish("acct_empty", "message.status", {"message_id": "msg_1"}) == 0
    assert callbacks.receive() == []


def test_publish_sends_batches_of_ten(callbacks: Callbacks) -> None:
    # More than the API allows (10), straight into the table: the batching must still split at 10.
    for n in range(12):
        add_endpoint("acct_a", f"whe_{n:02d}", f"https://hooks.example.com/{n}", {"message.status"}, cap=12)
    sent: list[int] = []
    sqs = clients.client("sqs")
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.append(len(params["Entries"]))
    )
    assert webhooks.publish("acct_a", "message.status", {"message_id": "msg_1", "status": "delivered"}) == 12
    assert sent == [10, 2]


def test_publish_refuses_an_unknown_event_type(callbacks: Callbacks) -> None:
    add_endpoint("acct_a", "whe_1", "https://hooks.example.com/a", {"message.status"})
    with pytest.raises(ValueError, match=r"message\.deleted"):
        webhooks.publish("acct_a", "message.deleted", {})


def test_sealed_event_opens_only_for_its_account(callbacks: Callbacks) -> None:
    add_endpoint("acct_a", "whe_1", "https://hooks.example.com/a", {"message.status"})
    envelope.create_key("acct_b")
    webhooks.publish("acct_a", "message.status", {"message_id": "msg_1"})
    job = DeliveryJob.model_validate_json(callbacks.receive()[0]["Body"])
    forged = job.model_copy(update={"account_id": "acct_b"})
    with pytest.raises(InvalidTag):
        webhooks.open_event(forged)

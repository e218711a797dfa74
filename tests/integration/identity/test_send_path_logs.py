"""R53 on the send path: recipient, consent, send, delivery, carrier callback, inbound STOP and webhook deliveries log
no phone number, no message body, no webhook secret, no API key and no session token (last-4 masks allowed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from functions.callback_worker import handler as callback_worker
from local.workers import sqs_event
from switchboard import clock
from switchboard.observability import logger as powertools_logger
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import PASSWORD
from tests.integration.messaging.conftest import Queues
from tests.integration.messaging.test_messages import post_event, work
from tests.integration.webhooks.conftest import Listener

PHONE = "+14155552671"
BODY = "Your parcel code is 88412-QX"
REPLY = "call me at the back door 5521"
NAME = "Ada Lovelace"


class Capture(logging.Handler):
    """Every record, formatted as the function's own handler formats it (JSON with every extra key)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    capture.setFormatter(powertools_logger.registered_formatter)
    # The Powertools logger (all functions share it) at DEBUG, and whatever reaches the root logger (INFO and up:
    # botocore's DEBUG wire dumps are not what a function logs).
    ours, root = logging.getLogger(powertools_logger.name), logging.getLogger()
    levels = (ours.level, root.level)
    ours.setLevel(logging.DEBUG)
    root.setLevel(logging.INFO)
    ours.addHandler(capture)
    if ours.propagate is False:
        root.addHandler(capture)
    yield capture
    ours.removeHandler(capture)
    root.removeHandler(capture)
    ours.setLevel(levels[0])
    root.setLevel(levels[1])


def _callbacks(queues: Queues) -> dict[str, Any]:
    messages = queues.drain("Callbacks")
    result: dict[str, Any] = callback_worker.lambda_handler(
        sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context()
    )
    return result


def test_send_path_logs_no_number_body_secret_or_token(
    identity: dict[str, str], queues: Queues, listener: Listener, captured: Capture
) -> None:
    register("owner@example.com", "Alpha Co")
    session = login("owner@example.com")
    key = call("POST", "/v1/api-keys", {"name": "server", "role": "developer"}, token=session).body["key"]
    endpoint = call(
        "POST",
        "/v1/webhook-endpoints",
        {"url": listener.url, "events": ["message.status", "message.inbound", "recipient.opted_out"]},
        token=key,
    ).body
    recipient = call("POST", "/v1/recipients", {"phone": PHONE, "name": NAME}, token=key)
    assert recipient.status == 201, recipient.body
    rid = recipient.body["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call("POST", f"/v1/recipients/{rid}/consents", consent, token=session).status == 201
    sent = call(
        "POST",
        "/v1/messages",
        {"recipient_id": rid, "channel": "sms", "body": BODY, "callback_url": listener.url},
        token=key,
    )
    assert sent.status == 202, sent.body
    sender = sent.body["from"]
    assert work(queues)["batchItemFailures"] == []
    from switchboard.carriers import sandbox  # noqa: PLC0415

    for owed in sandbox.take_callbacks():  # the carrier's signed "delivered" status callback
        assert post_event(owed["carrier"], owed).status == 200
    for text in (REPLY, "STOP"):
        inbound = {
            "type": "message.inbound",
            "id": f"sbxevt_{text[:4]}",
            "carrier": "sandbox-a",
            "channel": "sms",
            "from": PHONE,
            "to": sender,
            "body": text,
            "received_at": clock.rfc3339(clock.now()),
        }
        assert post_event("sandbox-a", inbound).status == 200
    assert _callbacks(queues) == {"batchItemFailures": []}
    events = [json.loads(r.body) for r in listener.received]
    assert {e["type"] for e in events} == {"message.status", "message.inbound", "recipient.opted_out"}
    assert any(e["data"].get("status") == "delivered" for e in events)

    log = "\n".join(captured.lines)
    assert len(captured.lines) >= 10, "the capture saw the functions' log lines"
    assert "webhook attempt" in log
    secrets = {
        "phone number": PHONE,
        "phone digits": PHONE[2:],
        "message body": BODY,
        "inbound body": REPLY,
        "recipient name": NAME,
        "endpoint secret": endpoint["secret"],
        "callback secret": sent.body["callback_secret"],
        "API key": key,
        "session token": session,
        "password": PASSWORD,
    }
    leaked = [name for name, value in secrets.items() if value in log]
    assert leaked == [], leaked

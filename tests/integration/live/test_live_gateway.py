"""The live path from a customer's `sb_live_` API key: the catalog's routes, the real authorizer, then the functions."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from switchboard.carriers import support
from switchboard.logic import receipts
from tests.integration.identity import gateway
from tests.integration.live.conftest import PHONE, Carriers, events_url, run_send_worker
from tests.integration.messaging.conftest import Queues

OWNER = "ops@acme.example"


def test_live_send_with_a_live_key_through_the_authorizer_reaches_twilio_and_its_receipt_the_log(
    identity: dict[str, str], dev: Queues, carriers: Carriers
) -> None:
    gateway.register(OWNER)
    session = gateway.login(OWNER)
    created = gateway.call("POST", "/v1/api-keys", {"name": "backend", "role": "developer"}, token=session)
    assert created.status == 201, created.body
    key = created.body["key"]
    assert key.startswith("sb_live_")  # a deployed stage issues live keys: its sends go to real carriers

    recipient = gateway.call("POST", "/v1/recipients", {"phone": PHONE, "name": "Ada"}, token=key)
    assert recipient.status == 201, recipient.body
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert gateway.call("POST", f"/v1/recipients/{recipient.body['id']}/consents", consent, token=key).status == 201
    sent = gateway.call("POST", "/v1/messages", {"channel": "sms", "to": PHONE, "body": "Hello Ada"}, token=key)
    assert sent.status == 202, sent.body
    assert gateway.call("POST", "/v1/messages", {"channel": "sms", "to": PHONE, "body": "x"}).status == 401

    assert run_send_worker(dev, "SmsSend")["batchItemFailures"] == []
    [message] = carriers.twilio.accepted()
    assert (message.to, message.from_, message.text) == (PHONE, sent.body["from"], "Hello Ada")
    # The status callback URL names the message by our ref (its MAC under the account's key), query included.
    base, _, query = message.callback.partition("?")
    ref = dict(parse_qsl(query))[support.REF_PARAM]
    account_id, message_id, _ = ref.split(".")
    assert (base, message_id, ref) == (
        events_url("twilio"),
        sent.body["id"],
        receipts.callback_ref(account_id, message_id),
    )

    callback = carriers.twilio.status_callback(message.carrier_id, "delivered")
    # The public events route: no authorizer, the carrier's signature (over the URL with its query) authenticates.
    answer = gateway.call(
        "POST",
        "/v1/carriers/twilio/events",
        raw=callback.body.decode(),
        headers=dict(callback.headers),
        query=dict(parse_qsl(urlsplit(callback.url).query)),
    )
    assert (answer.status, answer.body) == (200, {"received": 1})
    shown = gateway.call("GET", f"/v1/messages/{sent.body['id']}", token=key)
    assert (shown.body["status"], shown.body["carrier"]) == ("delivered", "twilio")
    assert [e["status"] for e in shown.body["events"]] == ["queued", "sending", "sent", "delivered"]

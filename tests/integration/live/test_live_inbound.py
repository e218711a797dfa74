"""The live inbound path in STAGE=dev: SDK-signed inbound STOP through carrier events opts out and stops queued
sends before any carrier; the customer's webhook gets it, and the deployed SSRF guard stays on."""

from __future__ import annotations

import json

import pytest

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.webhooks_api import handler as webhooks_api
from switchboard import clock
from tests.integration.live.conftest import (
    CUSTOMER_HOST,
    EVENTS,
    PHONE,
    SENDERS,
    Carriers,
    Customer,
    events_url,
    forged,
    log,
    run_callback_worker,
    run_send_worker,
    send,
    subscribe,
    to_gateway,
    webhook_events,
)
from tests.integration.live.fakes import CarrierRequest, FakePlivo, FakeTwilio, FakeWhatsApp
from tests.integration.messaging.conftest import Account, Queues, opted_in


def _inbound(carriers: Carriers, carrier: str, body: str) -> CarrierRequest:
    fake: FakeTwilio | FakePlivo | FakeWhatsApp = getattr(carriers, carrier)
    if isinstance(fake, FakeWhatsApp):
        to, now = SENDERS["whatsapp"], int(clock.timestamp())
        return fake.inbound(events_url(carrier), from_=PHONE, to=to, body=body, timestamp=now)
    return fake.inbound(events_url(carrier), from_=PHONE, to=SENDERS["sms"], body=body)


@pytest.mark.parametrize("carrier", ["twilio", "plivo", "whatsapp"])
def test_live_inbound_stop_opts_out_and_a_queued_send_never_reaches_a_carrier(
    account: Account, dev: Queues, carriers: Carriers, customer: Customer, carrier: str
) -> None:
    channel = "whatsapp" if carrier == "whatsapp" else "sms"
    _, secret = subscribe(account, customer)
    recipient_id = opted_in(account, recipients_api, PHONE, (channel,))
    if channel == "whatsapp":
        assert to_gateway(_inbound(carriers, carrier, "Hi")).status == 200  # opens the window for the queued text
    queued = send(account, channel)
    stop = _inbound(carriers, carrier, " Stop ")
    assert to_gateway(forged(stop)).status == 401
    consent = account.call(recipients_api, "GET", f"/v1/recipients/{recipient_id}").body["consent"]
    assert consent[channel] == "opted_in"  # the forged STOP changed nothing
    assert to_gateway(stop).status == 200

    consent = account.call(recipients_api, "GET", f"/v1/recipients/{recipient_id}").body["consent"]
    assert consent[channel] == "opted_out"
    queue_id = f"{channel.capitalize()}Send"
    assert run_send_worker(dev, queue_id)["batchItemFailures"] == []
    entry = log(account, queued)
    assert (entry["status"], entry["error"]["code"]) == ("failed", "consent_required")
    assert carriers.requests() == {"twilio": 0, "plivo": 0, "whatsapp": 0}  # no carrier ever saw it
    refused = account.call(messages_api, "POST", "/v1/messages", {"channel": channel, "to": PHONE, "body": "Hi"})
    assert (refused.status, refused.body["code"]) == (422, "consent_required")

    run_callback_worker(dev)
    events = webhook_events(customer, secret)
    inbound = [e["data"] for e in events if e["type"] == "message.inbound"]
    assert (inbound[-1]["carrier"], inbound[-1]["keyword"], inbound[-1]["from"]) == (carrier, "stop", PHONE)
    [opted_out] = [e["data"] for e in events if e["type"] == "recipient.opted_out"]
    assert opted_out["recipient_id"] == recipient_id


def test_live_webhooks_keep_the_ssrf_guard_in_a_deployed_stage(
    account: Account, dev: Queues, carriers: Carriers, customer: Customer
) -> None:
    customer.dns["localhost"] = ["127.0.0.1"]
    customer.dns["rebind.customer.test"] = ["127.0.0.1"]
    for url, why in [
        ("http://127.0.0.1:8080/hook", "only https"),  # allowed by the local stack, never deployed
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://rebind.customer.test/hook", "loopback"),
        (f"https://{CUSTOMER_HOST}:8443/hook", "port 443"),
    ]:
        answer = account.call(webhooks_api, "POST", "/v1/webhook-endpoints", {"url": url, "events": EVENTS})
        assert answer.status == 422, (url, answer.body)
        assert why in json.dumps(answer.body), (url, answer.body)

    # A name that was public when the endpoint was created and points at loopback at delivery time is refused then.
    endpoint_id, _ = subscribe(account, customer)
    opted_in(account, recipients_api, PHONE)
    send(account, "sms")
    run_send_worker(dev, "SmsSend")
    customer.dns[CUSTOMER_HOST] = ["127.0.0.1"]
    run_callback_worker(dev)
    assert customer.received == []
    deliveries = account.call(webhooks_api, "GET", f"/v1/webhook-endpoints/{endpoint_id}/deliveries").body["data"]
    assert deliveries
    print("DELIV", deliveries)
    assert all(d["outcome"] != "delivered" and d["status_code"] is None for d in deliveries)

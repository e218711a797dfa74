"""The live send path in STAGE=dev: API → queue → send worker → route table → real adapters → fake carriers →
signed callbacks and inbound STOP through carrier events → the message log and the customer's signed webhooks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from functions.webhooks_api import handler as webhooks_api
from switchboard import clock
from switchboard.carriers import routing
from tests.integration.live.conftest import (
    CUSTOMER_HOST,
    PHONE,
    PLIVO,
    PUBLIC_BASE_URL,
    SENDERS,
    TWILIO,
    WHATSAPP,
    WHATSAPP_NUMBER_ID,
    Carriers,
    Customer,
    events_url,
    run_callback_worker,
    run_send_worker,
    to_gateway,
)
from tests.integration.live.fakes import CarrierRequest, FakePlivo, FakeTwilio, FakeWhatsApp
from tests.integration.messaging.conftest import Account, Queues, opted_in

EVENTS = ["message.status", "message.inbound", "recipient.opted_out"]


def subscribe(account: Account, customer: Customer) -> tuple[str, str]:
    """The customer's endpoint, created through the API (its URL passes the deployed SSRF checks): (id, secret)."""
    created = account.call(webhooks_api, "POST", "/v1/webhook-endpoints", {"url": customer.url, "events": EVENTS})
    assert created.status == 201, created.body
    return created.body["id"], created.body["secret"]


def send(account: Account, channel: str, body: str = "Hello Ada") -> str:
    answer = account.call(messages_api, "POST", "/v1/messages", {"channel": channel, "to": PHONE, "body": body})
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "queued"
    return str(answer.body["id"])


def log(account: Account, message_id: str) -> dict[str, Any]:
    answer = account.call(messages_api, "GET", f"/v1/messages/{message_id}")
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def attempts(entry: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["carrier"], a["outcome"]) for a in entry["attempts"]]


def forged(request: CarrierRequest) -> CarrierRequest:
    """The same request with one byte of the body changed after signing."""
    return CarrierRequest(request.url, request.headers, request.body[:-1] + bytes([request.body[-1] ^ 1]))


def webhook_events(customer: Customer, secret: str) -> list[dict[str, Any]]:
    """Every event the customer received, each signature checked."""
    assert all(d.path == "/switchboard" for d in customer.received)
    return [d.verified(secret, clock.timestamp()) for d in customer.received]


def test_live_sms_goes_through_twilio_and_its_signed_receipts_reach_the_log_and_the_customer(
    account: Account, dev: Queues, carriers: Carriers, customer: Customer
) -> None:
    endpoint_id, secret = subscribe(account, customer)
    opted_in(account, recipients_api, PHONE)
    message_id = send(account, "sms")

    assert run_send_worker(dev, "SmsSend") == {"records": 1, "batchItemFailures": []}

    # The real Twilio adapter made the request Twilio's API expects (the fake checked auth, path and fields).
    [sent] = carriers.twilio.accepted()
    assert (sent.to, sent.from_, sent.text) == (PHONE, SENDERS["sms"], "Hello Ada")
    assert sent.callback == events_url("twilio")
    assert carriers.requests() == {"twilio": 1, "plivo": 0, "whatsapp": 0}
    entry = log(account, message_id)
    assert (entry["status"], entry["carrier"], attempts(entry)) == ("sent", "twilio", [("twilio", "accepted")])

    # Twilio reports back, signed by its SDK; a tampered copy is refused and changes nothing.
    delivered = carriers.twilio.status_callback(sent.carrier_id, "delivered")
    assert to_gateway(forged(delivered)).status == 401
    assert log(account, message_id)["status"] == "sent"
    assert to_gateway(carriers.twilio.status_callback(sent.carrier_id, "sent")).status == 200
    assert to_gateway(delivered).status == 200
    assert to_gateway(delivered).status == 200  # Twilio retries: a duplicate is a no-op
    entry = log(account, message_id)
    assert entry["status"] == "delivered"
    assert [e["status"] for e in entry["events"]] == ["queued", "sending", "sent", "delivered"]

    # The customer's webhook: every transition, signed with the endpoint's secret, over verified TLS.
    assert run_callback_worker(dev) == {"records": 3, "batchItemFailures": []}
    events = webhook_events(customer, secret)
    assert [(e["type"], e["data"]["id"], e["data"]["status"]) for e in events] == [
        ("message.status", message_id, status) for status in ("sending", "sent", "delivered")
    ]
    assert events[-1]["data"]["carrier"] == "twilio"
    assert customer.handshakes == [CUSTOMER_HOST] * 3  # SNI named the customer's host; the cert was checked for it
    deliveries = account.call(webhooks_api, "GET", f"/v1/webhook-endpoints/{endpoint_id}/deliveries").body["data"]
    assert [(d["status_code"], d["outcome"]) for d in deliveries] == [(200, "delivered")] * 3


@pytest.mark.parametrize("trouble", ["outage", "wrong credentials"])
def test_live_sms_fails_over_from_twilio_to_plivo(
    account: Account, dev: Queues, carriers: Carriers, customer: Customer, trouble: str
) -> None:
    if trouble == "outage":
        carriers.twilio.outage = 500
    else:
        carriers.twilio.auth_token = "rotated-at-twilio-but-not-in-our-secret"  # Twilio answers 401 code 20003
    _, secret = subscribe(account, customer)
    opted_in(account, recipients_api, PHONE)
    message_id = send(account, "sms")

    assert run_send_worker(dev, "SmsSend")["batchItemFailures"] == []

    assert [r.path for r in carriers.twilio.seen] == [f"/2010-04-01/Accounts/{TWILIO['account_sid']}/Messages.json"]
    [sent] = carriers.plivo.accepted()
    assert sent.fields == {
        "src": SENDERS["sms"].removeprefix("+"),
        "dst": PHONE.removeprefix("+"),
        "text": "Hello Ada",
        "url": events_url("plivo"),
        "method": "POST",
    }
    assert carriers.plivo.seen[0].path == f"/v1/Account/{PLIVO['auth_id']}/Message/"
    entry = log(account, message_id)
    assert (entry["status"], entry["carrier"]) == ("sent", "plivo")
    assert attempts(entry) == [("twilio", "failed"), ("plivo", "accepted")]

    delivered = carriers.plivo.status_callback(sent.carrier_id, "delivered")
    assert to_gateway(forged(delivered)).status == 401
    assert to_gateway(delivered).status == 200
    assert log(account, message_id)["status"] == "delivered"
    run_callback_worker(dev)
    statuses = [(e["data"]["status"], e["data"]["carrier"]) for e in webhook_events(customer, secret)]
    assert statuses[-1] == ("delivered", "plivo")


def test_live_whatsapp_fails_over_from_a_silent_meta_to_twilio_within_two_seconds(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    opted_in(account, recipients_api, PHONE, ("whatsapp",))
    # The recipient writes first (Meta's signed webhook): the 24-hour window for free-form text opens.
    hello = carriers.whatsapp.inbound(
        events_url("whatsapp"), from_=PHONE, to=SENDERS["whatsapp"], body="Hi", timestamp=int(clock.timestamp())
    )
    assert to_gateway(hello).status == 200
    message_id = send(account, "whatsapp", "Your order shipped")
    carriers.whatsapp.delay_s = 5.0  # accepts the connection, never answers in time

    started = time.monotonic()
    assert run_send_worker(dev, "WhatsappSend")["batchItemFailures"] == []
    took = time.monotonic() - started

    assert took < routing.FAILOVER_BUDGET_S  # R63: failover within 2 s
    assert len(carriers.whatsapp.seen) == 1
    assert carriers.whatsapp.seen[0].path == f"/v21.0/{WHATSAPP_NUMBER_ID}/messages"
    [sent] = carriers.twilio.accepted()
    assert (sent.to, sent.from_, sent.text) == (f"whatsapp:{PHONE}", f"whatsapp:{SENDERS['whatsapp']}", sent.text)
    assert sent.text == "Your order shipped"
    entry = log(account, message_id)
    assert attempts(entry) == [("whatsapp", "timeout"), ("twilio", "accepted")]
    assert to_gateway(carriers.twilio.status_callback(sent.carrier_id, "read")).status == 200
    assert log(account, message_id)["status"] == "read"


def test_live_whatsapp_goes_through_meta_and_its_signed_statuses_reach_the_log(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    opted_in(account, recipients_api, PHONE, ("whatsapp",))
    now = int(clock.timestamp())
    hello = carriers.whatsapp.inbound(
        events_url("whatsapp"), from_=PHONE, to=SENDERS["whatsapp"], body="Hi", timestamp=now
    )
    assert to_gateway(hello).status == 200
    message_id = send(account, "whatsapp", "Your order shipped")

    assert run_send_worker(dev, "WhatsappSend")["batchItemFailures"] == []

    [seen] = carriers.whatsapp.seen
    assert seen.headers["authorization"] == f"Bearer {WHATSAPP['access_token']}"
    assert json.loads(seen.body) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": "text",
        "text": {"body": "Your order shipped"},
    }
    [sent] = carriers.whatsapp.accepted()
    assert log(account, message_id)["carrier"] == "whatsapp"
    for status in ("sent", "delivered", "read"):
        request = carriers.whatsapp.status_callback(events_url("whatsapp"), sent.carrier_id, status, now)
        assert to_gateway(request).status == 200
    entry = log(account, message_id)
    assert [e["status"] for e in entry["events"]] == ["queued", "sending", "sent", "delivered", "read"]
    unsigned = CarrierRequest(
        events_url("whatsapp"), {"Content-Type": "application/json"}, request.body
    )  # no X-Hub-Signature-256
    assert to_gateway(unsigned).status == 401


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


def test_live_stage_routes_live_sends_to_real_carriers_only(account: Account, carriers: Carriers) -> None:
    assert PUBLIC_BASE_URL.startswith("https://")
    for channel, route in routing.ROUTES.items():
        assert routing.carriers_for(channel, "US", mode="live") == route
        assert not set(route) & set(routing.SANDBOX)

"""The live send path in STAGE=dev: API → queue → send worker → route table → real adapters → fake carriers on
loopback (failover between them) → SDK-signed status callbacks through carrier events → log and customer webhook."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from functions.recipients_api import handler as recipients_api
from functions.webhooks_api import handler as webhooks_api
from switchboard import clock
from switchboard.carriers import http_client, routing
from switchboard.logic import receipts
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
    attempts,
    callback_url,
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
from tests.integration.live.fakes import CarrierRequest
from tests.integration.messaging.conftest import Account, Queues, opted_in


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
    # The status callback URL carries our ref to the message (Twilio signs the URL, query included).
    assert sent.callback == callback_url("twilio", account, message_id)
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

    # About the failover path, not its 2 s budget (the WhatsApp test below times that): a loaded machine may spend
    # the budget on Twilio's answer; SQS then brings the record back, and that receive reaches Plivo.
    assert run_send_worker(dev, "SmsSend", redeliveries=2)["batchItemFailures"] == []

    # One request, or the same one again on a redelivery: Twilio never accepted, so asking again is safe.
    assert {r.path for r in carriers.twilio.seen} == {f"/2010-04-01/Accounts/{TWILIO['account_sid']}/Messages.json"}
    assert len({r.body for r in carriers.twilio.seen}) == 1
    [sent] = carriers.plivo.accepted()
    assert sent.fields == {
        "src": SENDERS["sms"].removeprefix("+"),
        "dst": PHONE.removeprefix("+"),
        "text": "Hello Ada",
        "url": callback_url("plivo", account, message_id),
        "method": "POST",
    }
    assert carriers.plivo.seen[0].path == f"/v1/Account/{PLIVO['auth_id']}/Message/"
    entry = log(account, message_id)
    assert (entry["status"], entry["carrier"]) == ("sent", "plivo")
    assert tried(entry) == [("twilio", "failed"), ("plivo", "accepted")]

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

    assert run_send_worker(dev, "WhatsappSend")["batchItemFailures"] == []

    # From Meta's request to Twilio's: the 1 s timeout, then failover within R63's 2 s budget.
    failover_s = carriers.twilio.seen[0].at - carriers.whatsapp.seen[0].at
    assert http_client.TOTAL_TIMEOUT_S <= failover_s < routing.FAILOVER_BUDGET_S
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
        # Meta echoes it in the message's status webhooks: our ref to the message (logic.receipts)
        "biz_opaque_callback_data": receipts.callback_ref(account.account_id, message_id),
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


def test_live_voice_fails_over_from_twilio_to_plivo_which_fetches_the_script_from_its_signed_answer_url(
    account: Account, dev: Queues, carriers: Carriers
) -> None:
    carriers.twilio.outage = 503
    opted_in(account, recipients_api, PHONE, ("voice",))
    message_id = send(account, "voice", "Your code is <1234>")

    # As for SMS: the failover path, whichever receive of the record reaches Plivo.
    assert run_send_worker(dev, "VoiceSend", redeliveries=2)["batchItemFailures"] == []

    seen = carriers.twilio.seen[0]  # a well-formed Calls request, which Twilio answered 503 (each time it was asked)
    assert {(r.path, r.body) for r in carriers.twilio.seen} == {(seen.path, seen.body)}
    assert seen.path == f"/2010-04-01/Accounts/{TWILIO['account_sid']}/Calls.json"
    form = parse_qs(seen.body.decode(), strict_parsing=True)
    assert form["Twiml"] == ["<Response><Say>Your code is &lt;1234&gt;</Say></Response>"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["StatusCallback"] == [callback_url("twilio", account, message_id)]
    [call] = carriers.plivo.accepted()
    assert call.fields["answer_url"].startswith(events_url("plivo") + "?answer=1&")
    assert "1234" not in call.fields["answer_url"]  # the text never travels in a URL
    assert tried(log(account, message_id)) == [("twilio", "failed"), ("plivo", "accepted")]

    # The callee answers: Plivo fetches the script from the answer URL (the signed query names the message).
    fetch = carriers.plivo.answer_request(call.carrier_id)
    assert to_gateway(forged(fetch)).status == 401
    script = to_gateway(fetch)
    assert (script.status, script.headers["content-type"]) == (200, "application/xml")
    assert script.body == "<Response><Speak>Your code is &lt;1234&gt;</Speak></Response>"
    assert to_gateway(carriers.plivo.hangup(call.carrier_id)).status == 200
    entry = log(account, message_id)
    assert (entry["status"], entry["carrier"]) == ("delivered", "plivo")


def test_live_stage_routes_live_sends_to_real_carriers_only(account: Account, carriers: Carriers) -> None:
    assert PUBLIC_BASE_URL.startswith("https://")
    for channel, route in routing.ROUTES.items():
        assert routing.carriers_for(channel, "US", mode="live") == route
        assert not set(route) & set(routing.SANDBOX)


def tried(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The carriers asked, in order, a carrier that failed the same record again on a redelivery counted once."""
    asked = attempts(entry)
    return [attempt for i, attempt in enumerate(asked) if i == 0 or attempt != asked[i - 1]]

"""Twilio adapter: the exact Messages/Calls requests, error codes, X-Twilio-Signature, and callback parsing."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from switchboard.carriers import twilio
from switchboard.carriers.base import CarrierRejected, CarrierUnavailable, Outbound, WebhookRequest
from switchboard.carriers.twilio import TwilioCarrier
from switchboard.models.message_status import RANK
from tests.unit.carriers.conftest import PUBLIC_BASE_URL, FakeCarrier

CREDS: dict[str, Any] = {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tok3n"}
EVENTS_URL = f"{PUBLIC_BASE_URL}/v1/carriers/twilio/events"
SMS = Outbound(
    message_id="msg_1", account_id="acct_1", channel="sms", from_="+15550001111", to="+15557654321", body="Hi"
)


def _carrier(url: str = "https://twilio.invalid", creds: dict[str, Any] | None = None) -> TwilioCarrier:
    return TwilioCarrier(credentials=lambda: creds if creds is not None else CREDS, api_url=url)


def _callback(params: dict[str, str], url: str = EVENTS_URL, key: str = "tok3n") -> WebhookRequest:
    body = urlencode(params).encode()
    return WebhookRequest(
        method="POST",
        url=url,
        headers={
            "x-twilio-signature": twilio.signature(key, url, list(params.items())),
            "content-type": "application/x-www-form-urlencoded",
        },
        query={},
        raw_body=body,
    )


def _form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode(), keep_blank_values=True)


@pytest.mark.enable_socket
def test_twilio_submit_sms_sends_the_documented_form(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 201, b'{"sid": "SM1234567890abcdef1234567890abcdef", "status": "queued"}'
    receipt = _carrier(fake_carrier.url).submit(SMS)
    assert (receipt.carrier, receipt.carrier_message_id) == ("twilio", "SM1234567890abcdef1234567890abcdef")
    sent = fake_carrier.last
    assert (sent.method, sent.path) == ("POST", f"/2010-04-01/Accounts/{CREDS['account_sid']}/Messages.json")
    expected_auth = base64.b64encode(f"{CREDS['account_sid']}:tok3n".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected_auth}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert _form(sent.body) == {
        "To": ["+15557654321"],
        "From": ["+15550001111"],
        "Body": ["Hi"],
        "StatusCallback": [EVENTS_URL],
    }


@pytest.mark.enable_socket
def test_twilio_submit_whatsapp_uses_whatsapp_addresses(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 201, b'{"sid": "SMwa"}'
    _carrier(fake_carrier.url).submit(Outbound(**{**SMS.__dict__, "channel": "whatsapp"}))
    form = _form(fake_carrier.last.body)
    assert (form["To"], form["From"]) == (["whatsapp:+15557654321"], ["whatsapp:+15550001111"])


@pytest.mark.enable_socket
def test_twilio_submit_voice_places_a_call_with_escaped_twiml(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 201, b'{"sid": "CA1"}'
    body = 'Your code is <Play>http://x</Play> & "1234"'
    receipt = _carrier(fake_carrier.url).submit(Outbound(**{**SMS.__dict__, "channel": "voice", "body": body}))
    assert receipt.carrier_message_id == "CA1"
    sent = fake_carrier.last
    assert sent.path == f"/2010-04-01/Accounts/{CREDS['account_sid']}/Calls.json"
    form = _form(sent.body)
    assert form["Twiml"] == [
        '<Response><Say>Your code is &lt;Play&gt;http://x&lt;/Play&gt; &amp; "1234"</Say></Response>'
    ]
    assert form["StatusCallback"] == [EVENTS_URL]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (form["To"], form["From"]) == (["+15557654321"], ["+15550001111"])


@pytest.mark.enable_socket
@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 21211, CarrierRejected),  # invalid 'To' number
        (400, 21610, CarrierRejected),  # recipient unsubscribed (STOP)
        (400, 21606, CarrierUnavailable),  # our 'From' is not SMS-capable: another carrier's number may be
        (401, 20003, CarrierUnavailable),  # authentication
        (429, 20429, CarrierUnavailable),
        (503, 20500, CarrierUnavailable),
    ],
)
def test_twilio_submit_classifies_twilio_errors(
    fake_carrier: FakeCarrier, status: int, code: int, error: type[Exception]
) -> None:
    fake_carrier.status = status
    fake_carrier.body = json.dumps(
        {"code": code, "message": "x", "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    ).encode()
    with pytest.raises(error) as caught:
        _carrier(fake_carrier.url).submit(SMS)
    assert type(caught.value) is error


def test_twilio_submit_without_credentials_is_unavailable() -> None:
    with pytest.raises(CarrierUnavailable, match="auth_token"):
        _carrier(creds={"account_sid": "AC1"}).submit(SMS)


def test_twilio_signature_matches_twilios_published_example() -> None:
    # Twilio's documented example: auth token 12345, this URL and these POST parameters.
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    assert twilio.signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_twilio_verify_accepts_the_signature_and_refuses_a_flipped_byte() -> None:
    request = _callback({"MessageSid": "SM1", "MessageStatus": "delivered", "AccountSid": "AC1"})
    carrier = _carrier()
    assert carrier.verify(request) is True
    tampered = bytearray(request.raw_body)
    tampered[-1] ^= 0x01
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "raw_body": bytes(tampered)})) is False


def test_twilio_verify_signs_the_full_url_including_its_query_string() -> None:
    url = EVENTS_URL + "?account=acct_1&x=2"
    request = _callback({"MessageSid": "SM1", "MessageStatus": "sent"}, url=url)
    carrier = _carrier()
    assert carrier.verify(request) is True
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "url": EVENTS_URL})) is False
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "url": EVENTS_URL + "?account=acct_2&x=2"})) is False


def test_twilio_verify_refuses_missing_and_foreign_signatures() -> None:
    request = _callback({"MessageSid": "SM1", "MessageStatus": "sent"}, key="someone-elses")
    carrier = _carrier()
    assert carrier.verify(request) is False
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "headers": {}})) is False
    assert carrier.handshake(request) is None


def test_twilio_parse_maps_a_message_status_with_its_error_code() -> None:
    [event] = _carrier().parse(
        _callback(
            {
                "MessageSid": "SM1",
                "MessageStatus": "undelivered",
                "ErrorCode": "30003",
                "SmsStatus": "undelivered",
                "AccountSid": "AC1",
            }
        )
    )
    assert (event.kind, event.carrier_message_id, event.status, event.error_code, event.event_id) == (
        "status",
        "SM1",
        "undelivered",
        "30003",
        "SM1:undelivered",
    )


def test_twilio_parse_reads_inbound_sms_and_whatsapp() -> None:
    carrier = _carrier()
    [sms] = carrier.parse(
        _callback(
            {
                "MessageSid": "SMin",
                "SmsStatus": "received",
                "From": "+15557654321",
                "To": "+15550001111",
                "Body": "STOP",
                "NumMedia": "0",
            }
        )
    )
    assert (sms.kind, sms.event_id, sms.channel, sms.from_, sms.to, sms.body) == (
        "inbound",
        "SMin",
        "sms",
        "+15557654321",
        "+15550001111",
        "STOP",
    )
    [wa] = carrier.parse(
        _callback(
            {
                "MessageSid": "SMwa",
                "SmsStatus": "received",
                "From": "whatsapp:+15557654321",
                "To": "whatsapp:+15550001111",
                "Body": "hello",
            }
        )
    )
    assert (wa.channel, wa.from_, wa.to) == ("whatsapp", "+15557654321", "+15550001111")


def test_twilio_parse_maps_call_statuses() -> None:
    [event] = _carrier().parse(_callback({"CallSid": "CA1", "CallStatus": "no-answer", "AccountSid": "AC1"}))
    assert (event.carrier_message_id, event.status, event.event_id) == ("CA1", "undelivered", "CA1:no-answer")


@pytest.mark.parametrize(
    "params",
    [{"MessageSid": "SM1", "MessageStatus": "mystery"}, {"CallSid": "CA1", "CallStatus": "mystery"}, {}, {"x": "y"}],
)
def test_twilio_parse_ignores_unknown_statuses_and_junk(params: dict[str, str]) -> None:
    assert _carrier().parse(_callback(params)) == []


def test_twilio_status_maps_are_total_over_twilios_documented_statuses() -> None:
    documented_messages = {
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    }
    assert set(twilio.MESSAGE_STATUS_MAP) | twilio.INBOUND_STATUSES == documented_messages
    documented_calls = {
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    }
    assert set(twilio.CALL_STATUS_MAP) == documented_calls
    assert set(twilio.MESSAGE_STATUS_MAP.values()) | set(twilio.CALL_STATUS_MAP.values()) <= set(RANK)
    assert set(twilio.MESSAGE_STATUS_MAP) >= twilio.MESSAGE_FINAL_STATUSES
    assert set(twilio.CALL_STATUS_MAP) >= twilio.CALL_FINAL_STATUSES


def test_twilio_verify_accepts_the_previous_token_during_a_rotation() -> None:
    request = _callback({"MessageSid": "SM1", "MessageStatus": "sent"}, key="old-token")
    assert _carrier(creds={**CREDS, "previous_auth_token": "old-token"}).verify(request) is True
    assert _carrier().verify(request) is False


def test_twilio_parse_reads_mms_files_buttons_and_the_replied_message() -> None:
    carrier = _carrier()
    [mms] = carrier.parse(
        _callback(
            {
                "MessageSid": "MMin",
                "SmsStatus": "received",
                "From": "+15557654321",
                "To": "+15550001111",
                "Body": "look",
                "NumMedia": "2",
                "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MMin/Media/ME1",
                "MediaContentType0": "image/png",
                "MediaUrl1": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MMin/Media/ME2",
                "MediaContentType1": "application/pdf",
            }
        )
    )
    assert (mms.message_type, mms.body) == ("media", "look")
    assert [(m.kind, m.content_type, m.ref.rsplit("/", 1)[1]) for m in mms.media] == [
        ("image", "image/png", "ME1"),
        ("document", "application/pdf", "ME2"),
    ]
    [button] = carrier.parse(
        _callback(
            {
                "MessageSid": "SMbt",
                "SmsStatus": "received",
                "From": "whatsapp:+15557654321",
                "To": "whatsapp:+15550001111",
                "Body": "Confirm",
                "ButtonText": "Confirm",
                "ButtonPayload": "confirm-42",
                "MessageType": "button",
                "OriginalRepliedMessageSid": "SM" + "c" * 32,
            }
        )
    )
    assert (button.channel, button.message_type, button.body, button.extra["payload"], button.reply_to) == (
        "whatsapp",
        "button",
        "Confirm",
        "confirm-42",
        "SM" + "c" * 32,
    )


def test_twilio_parse_reads_an_inbound_call_once_and_ignores_its_later_statuses() -> None:
    ringing = {
        "CallSid": "CA" + "d" * 32,
        "AccountSid": CREDS["account_sid"],
        "From": "+15557654321",
        "To": "+15550001111",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    [call] = _carrier().parse(_callback(ringing))
    assert (call.kind, call.channel, call.message_type, call.event_id, call.from_, call.to) == (
        "inbound",
        "voice",
        "call",
        "CA" + "d" * 32,
        "+15557654321",
        "+15550001111",
    )
    assert _carrier().parse(_callback(ringing | {"CallStatus": "completed"})) == []
    assert "<Reject" in twilio.reject_call_xml()

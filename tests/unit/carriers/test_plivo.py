"""Plivo adapter: the exact Message/Call requests, the answer-URL XML, X-Plivo-Signature-V3, and parsing."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from switchboard.carriers import plivo
from switchboard.carriers.base import CarrierRejected, CarrierUnavailable, Outbound, WebhookRequest
from switchboard.carriers.plivo import PlivoCarrier
from switchboard.models.message_status import RANK
from tests.unit.carriers.conftest import PUBLIC_BASE_URL, FakeCarrier

CREDS: dict[str, Any] = {"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "plivo-tok"}
EVENTS_URL = f"{PUBLIC_BASE_URL}/v1/carriers/plivo/events"
SMS = Outbound(
    message_id="msg_1", account_id="acct_1", channel="sms", from_="+15550001111", to="+15557654321", body="Hi"
)


def _carrier(url: str = "https://plivo.invalid", creds: dict[str, Any] | None = None) -> PlivoCarrier:
    return PlivoCarrier(credentials=lambda: creds if creds is not None else CREDS, api_url=url)


def _callback(
    params: dict[str, str], url: str = EVENTS_URL, nonce: str = "05429567804466091622", key: str = "plivo-tok"
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={
            "x-plivo-signature-v3": plivo.signature_v3(key, "POST", url, list(params.items()), nonce),
            "x-plivo-signature-v3-nonce": nonce,
            "content-type": "application/x-www-form-urlencoded",
        },
        query={k: v[0] for k, v in parse_qs(urlsplit(url).query).items()},
        raw_body=urlencode(params).encode(),
    )


@pytest.mark.enable_socket
def test_plivo_submit_sms_sends_the_documented_json(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status = 202
    fake_carrier.body = b'{"api_id": "948b53a2", "message": "message(s) queued", "message_uuid": ["5b40a428-bfc7"]}'
    receipt = _carrier(fake_carrier.url).submit(SMS)
    assert (receipt.carrier, receipt.carrier_message_id) == ("plivo", "5b40a428-bfc7")
    sent = fake_carrier.last
    assert (sent.method, sent.path) == ("POST", "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/")
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"MAXXXXXXXXXXXXXXXXXX:plivo-tok").decode()
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body) == {
        "src": "15550001111",
        "dst": "15557654321",
        "text": "Hi",
        "url": EVENTS_URL,
        "method": "POST",
    }


@pytest.mark.enable_socket
def test_plivo_submit_voice_places_a_call_whose_answer_url_names_the_message(fake_carrier: FakeCarrier) -> None:
    fake_carrier.status, fake_carrier.body = 201, b'{"message": "call fired", "request_uuid": "9834029e-58b6"}'
    receipt = _carrier(fake_carrier.url).submit(Outbound(**{**SMS.__dict__, "channel": "voice"}))
    assert receipt.carrier_message_id == "9834029e-58b6"
    sent = fake_carrier.last
    assert sent.path == "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Call/"
    assert json.loads(sent.body) == {
        "from": "15550001111",
        "to": "15557654321",
        "answer_url": f"{EVENTS_URL}?answer=1&account_id=acct_1&message_id=msg_1",
        "answer_method": "POST",
        "hangup_url": EVENTS_URL,
        "hangup_method": "POST",
    }
    assert "Hi" not in json.loads(sent.body)["answer_url"]  # the body never travels in a URL


@pytest.mark.enable_socket
@pytest.mark.parametrize(
    ("status", "error"),
    [(400, CarrierRejected), (401, CarrierUnavailable), (404, CarrierUnavailable), (500, CarrierUnavailable)],
)
def test_plivo_submit_classifies_http_statuses(fake_carrier: FakeCarrier, status: int, error: type[Exception]) -> None:
    fake_carrier.status, fake_carrier.body = status, b'{"api_id": "x", "error": "invalid dst"}'
    with pytest.raises(error) as caught:
        _carrier(fake_carrier.url).submit(SMS)
    assert type(caught.value) is error


def test_plivo_submit_refuses_multi_destination_smuggling() -> None:
    with pytest.raises(CarrierRejected):
        _carrier().submit(Outbound(**{**SMS.__dict__, "to": "+15557654321<15557654322"}))


def test_plivo_submit_does_not_carry_whatsapp() -> None:
    with pytest.raises(CarrierUnavailable):
        _carrier().submit(Outbound(**{**SMS.__dict__, "channel": "whatsapp"}))


def test_plivo_answer_target_and_speak_xml() -> None:
    url = plivo.answer_url(Outbound(**{**SMS.__dict__, "channel": "voice"}))
    request = _callback({"CallUUID": "c1", "CallStatus": "in-progress", "ALegRequestUUID": "r1"}, url=url)
    assert _carrier().verify(request) is True
    assert plivo.answer_target(request) == plivo.AnswerTarget(account_id="acct_1", message_id="msg_1")
    assert plivo.answer_target(_callback({"MessageUUID": "m1", "Status": "sent"})) is None
    assert (
        plivo.speak_xml('Code <Hangup/> & "9"') == '<Response><Speak>Code &lt;Hangup/&gt; &amp; "9"</Speak></Response>'
    )


def test_plivo_signature_v3_matches_the_sdk_algorithms_reference_values() -> None:
    # Reference values computed with plivo-python's construct_post_url/get_signature_v3 (published in openHAB's
    # Plivo binding tests): no query, then a query (sorted, then "." before the POST parameters).
    params = [("From", "+14156667777"), ("To", "+14158889999"), ("CallUUID", "abcd-1234")]
    assert plivo.signature_v3("my_auth_token", "POST", "https://example.com/answer", params, "12345") == (
        "QUFNUHBhaE5m20p3UFtVHCb66PSliiukfx8M6MyiJwk="
    )
    assert plivo.signature_v3("my_auth_token", "POST", "https://example.com/answer?token=xyz", params, "12345") == (
        "IryQ8ucGk4J35wJRxh5K0iVvDCSZpHflFICcZxwx7Cc="
    )


def test_plivo_verify_accepts_the_signature_and_refuses_a_flipped_byte() -> None:
    request = _callback({"MessageUUID": "m1", "Status": "delivered", "To": "15557654321", "From": "15550001111"})
    carrier = _carrier()
    assert carrier.verify(request) is True
    tampered = bytearray(request.raw_body)
    tampered[-1] ^= 0x01
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "raw_body": bytes(tampered)})) is False


def test_plivo_verify_binds_the_nonce() -> None:
    request = _callback({"MessageUUID": "m1", "Status": "sent"}, nonce="111")
    carrier = _carrier()
    assert carrier.verify(request) is True
    other_nonce = {**request.headers, "x-plivo-signature-v3-nonce": "112"}
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "headers": other_nonce})) is False
    no_nonce = {k: v for k, v in request.headers.items() if k != "x-plivo-signature-v3-nonce"}
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "headers": no_nonce})) is False


def test_plivo_verify_accepts_any_of_several_signatures_and_refuses_foreign_ones() -> None:
    request = _callback({"MessageUUID": "m1", "Status": "sent"})
    carrier = _carrier()
    several = {**request.headers, "x-plivo-signature-v3": "bm90LWl0=," + request.headers["x-plivo-signature-v3"]}
    assert carrier.verify(WebhookRequest(**{**request.__dict__, "headers": several})) is True
    assert carrier.verify(_callback({"MessageUUID": "m1", "Status": "sent"}, key="someone-elses")) is False
    assert carrier.handshake(request) is None


def test_plivo_parse_maps_message_statuses_with_error_codes() -> None:
    [event] = _carrier().parse(
        _callback(
            {
                "MessageUUID": "m1",
                "Status": "undelivered",
                "ErrorCode": "200",
                "To": "15557654321",
                "From": "15550001111",
                "Units": "1",
            }
        )
    )
    assert (event.kind, event.carrier_message_id, event.status, event.error_code, event.event_id) == (
        "status",
        "m1",
        "undelivered",
        "200",
        "m1:undelivered",
    )
    [rejected] = _carrier().parse(_callback({"MessageUUID": "m2", "Status": "rejected"}))
    assert rejected.status == "failed"


def test_plivo_parse_reads_an_inbound_message() -> None:
    [event] = _carrier().parse(
        _callback({"From": "15557654321", "To": "15550001111", "Type": "sms", "Text": "STOP", "MessageUUID": "in-1"})
    )
    assert (event.kind, event.event_id, event.channel, event.from_, event.to, event.body) == (
        "inbound",
        "in-1",
        "sms",
        "+15557654321",
        "+15550001111",
        "STOP",
    )


def test_plivo_parse_maps_a_call_hangup_onto_the_calls_request_uuid() -> None:
    [event] = _carrier().parse(
        _callback(
            {
                "CallUUID": "c1",
                "CallStatus": "busy",
                "ALegRequestUUID": "9834029e-58b6",
                "HangupCause": "USER_BUSY",
                "Direction": "outbound",
            }
        )
    )
    assert (event.carrier_message_id, event.status, event.error_code, event.event_id) == (
        "9834029e-58b6",
        "undelivered",
        "USER_BUSY",
        "c1:busy",
    )


@pytest.mark.parametrize(
    "params",
    [
        {"MessageUUID": "m1", "Status": "mystery"},
        {"CallUUID": "c1", "CallStatus": "mystery", "ALegRequestUUID": "r"},
        {},
        {"junk": "1"},
    ],
)
def test_plivo_parse_ignores_unknown_statuses_and_junk(params: dict[str, str]) -> None:
    assert _carrier().parse(_callback(params)) == []


def test_plivo_status_maps_are_total_over_plivos_documented_statuses() -> None:
    assert set(plivo.MESSAGE_STATUS_MAP) == {"queued", "sent", "failed", "delivered", "undelivered", "rejected", "read"}
    assert set(plivo.CALL_STATUS_MAP) == {
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "failed",
        "timeout",
        "no-answer",
        "cancel",
    }
    assert set(plivo.MESSAGE_STATUS_MAP.values()) | set(plivo.CALL_STATUS_MAP.values()) <= set(RANK)
    assert set(plivo.MESSAGE_STATUS_MAP) >= plivo.MESSAGE_FINAL_STATUSES
    assert set(plivo.CALL_STATUS_MAP) >= plivo.CALL_FINAL_STATUSES


def test_plivo_verify_accepts_the_previous_token_during_a_rotation() -> None:
    request = _callback({"MessageUUID": "m1", "Status": "sent"}, key="old-token")
    assert _carrier(creds={**CREDS, "previous_auth_token": "old-token"}).verify(request) is True
    assert _carrier().verify(request) is False


def test_plivo_parse_reads_mms_files_and_an_inbound_call() -> None:
    carrier = _carrier()
    [mms] = carrier.parse(
        _callback(
            {
                "MessageUUID": "2a9bd8c2-6b0e-11ee-8c99-0242ac120002",
                "From": "15557654321",
                "To": "15550001111",
                "Text": "photo",
                "Type": "mms",
                "MediaCount": "1",
                "Media0": "https://media.plivo.com/Account/MA1/Message/2a9b/Media/ME1",
            }
        )
    )
    assert (mms.message_type, mms.body, [m.ref.rsplit("/", 1)[1] for m in mms.media]) == ("media", "photo", ["ME1"])
    answer = {
        "CallUUID": "e1ab2c3d-0000-4000-8000-000000000001",
        "From": "15557654321",
        "To": "15550001111",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "Event": "StartApp",
    }
    [call] = carrier.parse(_callback(answer))
    assert (call.kind, call.channel, call.message_type, call.from_) == ("inbound", "voice", "call", "+15557654321")
    assert carrier.parse(_callback(answer | {"Event": "Hangup", "CallStatus": "completed"})) == []
    assert "<Hangup" in plivo.reject_call_xml()

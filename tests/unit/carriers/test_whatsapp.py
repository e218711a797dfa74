"""WhatsApp Cloud API adapter: the exact Graph API request, error codes, webhook signature, handshake, parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from switchboard.carriers.base import (
    CarrierRejected,
    CarrierUnavailable,
    Outbound,
    WebhookRequest,
)
from switchboard.carriers.whatsapp import FINAL_STATUSES, STATUS_MAP, WhatsAppCarrier
from switchboard.models.message_status import RANK
from tests.unit.carriers.conftest import FakeCarrier

CREDS: dict[str, Any] = {
    "access_token": "EAAtest",
    "app_secret": "app-secret",
    "verify_token": "verify-me",
    "phone_number_ids": {"+15550001111": "106540352242922"},
}
MSG = Outbound(
    message_id="msg_1", account_id="acct_1", channel="whatsapp", from_="+15550001111", to="+16505551234", body="Hi"
)


def _carrier(url: str = "https://graph.invalid", creds: dict[str, Any] | None = None) -> WhatsAppCarrier:
    return WhatsAppCarrier(credentials=lambda: creds if creds is not None else CREDS, api_url=url)


def _signed(body: bytes, key: str = "app-secret") -> WebhookRequest:
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(
        method="POST",
        url="https://api.switchboard.test/v1/carriers/whatsapp/events",
        headers={"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"},
        query={},
        raw_body=body,
    )


def _webhook(value: dict[str, Any], field: str = "messages") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
    } | value
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": field}]}],
        }
    ).encode()


@pytest.mark.enable_socket
def test_whatsapp_submit_sends_the_documented_text_request(fake_carrier: FakeCarrier) -> None:
    fake_carrier.body = json.dumps(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"}],
        }
    ).encode()
    receipt = _carrier(fake_carrier.url).submit(MSG)
    assert receipt.carrier == "whatsapp"
    assert receipt.carrier_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
    sent = fake_carrier.last
    assert (sent.method, sent.path) == ("POST", "/v21.0/106540352242922/messages")
    assert sent.headers["authorization"] == "Bearer EAAtest"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": {"body": "Hi"},
    }


@pytest.mark.enable_socket
def test_whatsapp_submit_sends_a_template_with_body_parameters(fake_carrier: FakeCarrier) -> None:
    fake_carrier.body = b'{"messages": [{"id": "wamid.T"}]}'
    template = {"name": "order_update", "language": "en_US", "parameters": ["Ada", "#42"]}
    _carrier(fake_carrier.url).submit(Outbound(**{**MSG.__dict__, "template": template}))
    body = json.loads(fake_carrier.last.body)
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#42"}]}
        ],
    }
    assert "text" not in body


@pytest.mark.enable_socket
@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 131026, CarrierRejected),  # message undeliverable
        (400, 131047, CarrierRejected),  # re-engagement: outside the 24 h window
        (400, 100, CarrierRejected),  # invalid parameter
        (400, 190, CarrierUnavailable),  # access token expired
        (400, 130429, CarrierUnavailable),  # throughput reached
        (401, 0, CarrierUnavailable),
        (500, 131000, CarrierUnavailable),
    ],
)
def test_whatsapp_submit_classifies_meta_error_codes(
    fake_carrier: FakeCarrier, status: int, code: int, error: type[Exception]
) -> None:
    fake_carrier.status = status
    fake_carrier.body = json.dumps({"error": {"message": "(#x)", "type": "OAuthException", "code": code}}).encode()
    with pytest.raises(error) as caught:
        _carrier(fake_carrier.url).submit(MSG)
    assert type(caught.value) is error
    if error is CarrierRejected:
        assert caught.value.code == str(code)  # type: ignore[attr-defined]


def test_whatsapp_submit_without_a_phone_number_id_for_the_sender_is_unavailable() -> None:
    other = Outbound(**{**MSG.__dict__, "from_": "+15559999999"})
    with pytest.raises(CarrierUnavailable, match="phone-number id"):
        _carrier().submit(other)


def test_whatsapp_submit_refuses_a_non_e164_recipient() -> None:
    with pytest.raises(CarrierRejected):
        _carrier().submit(Outbound(**{**MSG.__dict__, "to": "16505551234"}))


def test_whatsapp_submit_without_credentials_is_unavailable() -> None:
    with pytest.raises(CarrierUnavailable, match="access_token"):
        _carrier(creds={"phone_number_ids": CREDS["phone_number_ids"]}).submit(MSG)


def test_whatsapp_verify_accepts_the_signature_and_refuses_a_flipped_byte() -> None:
    body = _webhook(
        {
            "statuses": [
                {"id": "wamid.1", "status": "delivered", "timestamp": "1750857384", "recipient_id": "16505551234"}
            ]
        }
    )
    carrier = _carrier()
    assert carrier.verify(_signed(body)) is True
    tampered = bytearray(body)
    tampered[40] ^= 0x01
    signed = _signed(body)
    assert carrier.verify(WebhookRequest(**{**signed.__dict__, "raw_body": bytes(tampered)})) is False


def test_whatsapp_verify_refuses_missing_wrong_or_other_key_signatures() -> None:
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    carrier = _carrier()
    unsigned = _signed(body)
    assert carrier.verify(WebhookRequest(**{**unsigned.__dict__, "headers": {}})) is False
    assert carrier.verify(_signed(body, key="someone-else")) is False
    assert (
        carrier.verify(WebhookRequest(**{**unsigned.__dict__, "headers": {"x-hub-signature-256": "sha1=ab"}})) is False
    )


def test_whatsapp_verify_matches_a_published_hmac_sha256_vector() -> None:
    # The WhatsApp SDK docs' example: compute_signature("test", "secret").
    request = WebhookRequest(
        method="POST",
        url="https://x",
        headers={"x-hub-signature-256": "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"},
        query={},
        raw_body=b"test",
    )
    assert _carrier(creds={**CREDS, "app_secret": "secret"}).verify(request) is True


def test_whatsapp_handshake_echoes_the_challenge_only_for_our_verify_token() -> None:
    def get(token: str, mode: str = "subscribe") -> WebhookRequest:
        query = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}
        return WebhookRequest(method="GET", url="https://x", headers={}, query=query, raw_body=b"")

    carrier = _carrier()
    assert carrier.handshake(get("verify-me")) == "1158201444"
    assert carrier.handshake(get("wrong")) is None
    assert carrier.handshake(get("verify-me", mode="unsubscribe")) is None
    assert carrier.verify(get("verify-me")) is False  # a GET is never a signed event


def test_whatsapp_parse_maps_statuses_with_error_codes() -> None:
    body = _webhook(
        {
            "statuses": [
                {"id": "wamid.1", "status": "delivered", "timestamp": "1750857384", "recipient_id": "16505551234"},
                {
                    "id": "wamid.2",
                    "status": "failed",
                    "timestamp": "1750857385",
                    "recipient_id": "16505551234",
                    "errors": [{"code": 131050, "title": "Unable to deliver the message."}],
                },
                {"id": "wamid.3", "status": "deleted", "timestamp": "1750857386", "recipient_id": "16505551234"},
            ]
        }
    )
    events = _carrier().parse(_signed(body))
    assert [(e.kind, e.carrier_message_id, e.status, e.error_code, e.event_id) for e in events] == [
        ("status", "wamid.1", "delivered", "", "wamid.1:delivered"),
        ("status", "wamid.2", "failed", "131050", "wamid.2:failed"),
    ]
    assert events[0].at == "2025-06-25T13:16:24Z"


def test_whatsapp_parse_reads_an_inbound_text_with_e164_numbers() -> None:
    body = _webhook(
        {
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
            "messages": [
                {
                    "from": "16505551234",
                    "id": "wamid.IN1",
                    "timestamp": "1504902988",
                    "type": "text",
                    "text": {"body": "STOP"},
                }
            ],
        }
    )
    [event] = _carrier().parse(_signed(body))
    assert (event.kind, event.event_id, event.channel, event.from_, event.to, event.body) == (
        "inbound",
        "wamid.IN1",
        "whatsapp",
        "+16505551234",
        "+15550001111",
        "STOP",
    )
    assert event.at == "2017-09-08T20:36:28Z"


def test_whatsapp_parse_reads_a_stop_promotions_button_reply() -> None:
    body = _webhook(
        {
            "messages": [
                {
                    "from": "16505551234",
                    "id": "wamid.B1",
                    "timestamp": "1504902988",
                    "type": "button",
                    "button": {"text": "Stop promotions", "payload": "STOP_PROMO"},
                }
            ]
        }
    )
    [event] = _carrier().parse(_signed(body))
    assert event.body == "Stop promotions"
    assert dict(event.extra) == {"type": "button", "payload": "STOP_PROMO"}


def test_whatsapp_parse_maps_the_marketing_opt_out_to_extra() -> None:
    body = _webhook(
        {
            "contacts": [{"wa_id": "16505551234"}],
            "user_preferences": [
                {
                    "wa_id": "16505551234",
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1731705721,
                }
            ],
        },
        field="user_preferences",
    )
    [event] = _carrier().parse(_signed(body))
    assert (event.kind, event.from_, event.to, event.body) == ("inbound", "+16505551234", "+15550001111", "")
    assert event.extra["marketing_messages"] == "stop"
    assert event.event_id == "pref:+16505551234:stop:1731705721"


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"entry": "x"}', b'{"entry": [{"changes": [{"value": 3}]}]}'])
def test_whatsapp_parse_never_crashes_on_malformed_payloads(raw: bytes) -> None:
    assert _carrier().parse(_signed(raw)) == []


def test_whatsapp_status_map_is_total_over_metas_statuses() -> None:
    assert set(STATUS_MAP) == {"sent", "delivered", "read", "failed"}
    assert set(STATUS_MAP.values()) <= set(RANK)
    assert set(STATUS_MAP) >= FINAL_STATUSES


def test_whatsapp_verify_accepts_the_previous_app_secret_during_a_rotation() -> None:
    request = _signed(b'{"entry": []}', key="old-secret")
    assert _carrier(creds={**CREDS, "previous_app_secret": "old-secret"}).verify(request) is True
    assert _carrier().verify(request) is False


def _one(message: dict[str, Any]) -> Any:
    [event] = _carrier().parse(_signed(_webhook({"messages": [message]})))
    return event


def test_whatsapp_parse_reads_media_with_caption_and_the_message_it_answers() -> None:
    base = {"from": "16505551234", "timestamp": "1504902988", "context": {"from": "15550001111", "id": "wamid.OURS"}}
    image = _one(
        base
        | {
            "id": "wamid.M1",
            "type": "image",
            "image": {"caption": "my receipt", "mime_type": "image/jpeg", "sha256": "abc", "id": "1479537139650973"},
        }
    )
    assert (image.message_type, image.body, image.reply_to) == ("media", "my receipt", "wamid.OURS")
    assert [(m.kind, m.ref, m.content_type) for m in image.media] == [("image", "1479537139650973", "image/jpeg")]
    document = _one(
        {
            "from": "16505551234",
            "id": "wamid.D1",
            "timestamp": "1504902988",
            "type": "document",
            "document": {"filename": "lease.pdf", "mime_type": "application/pdf", "id": "555"},
        }
    )
    assert (document.message_type, document.body, document.reply_to) == ("media", "", "")
    assert [(m.kind, m.filename) for m in document.media] == [("document", "lease.pdf")]


@pytest.mark.parametrize(
    ("reply", "title", "reply_id"),
    [
        ({"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes"}}, "Yes", "yes-1"),
        (
            {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Tuesday", "description": "9-12"}},
            "Tuesday",
            "row-2",
        ),
    ],
)
def test_whatsapp_parse_reads_interactive_replies_as_buttons(reply: dict[str, Any], title: str, reply_id: str) -> None:
    event = _one(
        {
            "from": "16505551234",
            "id": "wamid.I1",
            "timestamp": "1504902988",
            "type": "interactive",
            "interactive": reply,
            "context": {"id": "wamid.OURS"},
        }
    )
    assert (event.message_type, event.body, event.extra["payload"], event.reply_to) == (
        "button",
        title,
        reply_id,
        "wamid.OURS",
    )


def test_whatsapp_parse_keeps_other_kinds_without_content() -> None:
    event = _one(
        {
            "from": "16505551234",
            "id": "wamid.R1",
            "timestamp": "1504902988",
            "type": "reaction",
            "reaction": {"message_id": "wamid.OURS", "emoji": "👍"},
        }
    )
    assert (event.message_type, event.body, event.media, event.reply_to) == ("other", "", (), "wamid.OURS")

"""Real carriers read their credentials from Secrets Manager on first use, through the ≤ 15 min cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import boto3
import pytest

from switchboard import settings
from switchboard.carriers import plivo, twilio
from switchboard.carriers.base import WebhookRequest
from switchboard.carriers.plivo import PlivoCarrier
from switchboard.carriers.twilio import TwilioCarrier
from switchboard.carriers.whatsapp import WhatsAppCarrier
from switchboard.crypto import secret_store

URL = "https://api.switchboard.test/v1/carriers/twilio/events"


@pytest.fixture
def carrier_secrets(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The three carrier secrets, in the JSON shapes the adapters document."""
    client = boto3.client("secretsmanager")
    values = {
        twilio.CREDENTIALS_ENV: {"account_sid": "AC1", "auth_token": "twilio-v1"},
        plivo.CREDENTIALS_ENV: {"auth_id": "MA1", "auth_token": "plivo-v1"},
        "WHATSAPP_CREDENTIALS_SECRET": {
            "access_token": "EAA1",
            "app_secret": "meta-v1",
            "verify_token": "vt",
            "phone_number_ids": {"+15550001111": "1065"},
        },
    }
    names = {}
    for env, value in values.items():
        name = f"test-{env}"
        client.create_secret(Name=name, SecretString=json.dumps(value))
        monkeypatch.setenv(env, name)
        names[env] = name
    settings.reload()
    secret_store.forget()
    yield names
    secret_store.forget()


def _twilio_request(token: str) -> WebhookRequest:
    params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    return WebhookRequest(
        method="POST",
        url=URL,
        headers={
            "x-twilio-signature": twilio.signature(token, URL, params),
            "content-type": "application/x-www-form-urlencoded",
        },
        query={},
        raw_body=urlencode(params).encode(),
    )


def test_carrier_credentials_come_from_secrets_manager_and_rotate_after_the_cache(
    carrier_secrets: dict[str, str],
) -> None:
    carrier = TwilioCarrier()
    assert carrier.verify(_twilio_request("twilio-v1")) is True
    boto3.client("secretsmanager").put_secret_value(
        SecretId=carrier_secrets[twilio.CREDENTIALS_ENV],
        SecretString=json.dumps({"account_sid": "AC1", "auth_token": "twilio-v2"}),
    )
    assert carrier.verify(_twilio_request("twilio-v2")) is False  # still cached (≤ 15 min)
    secret_store.forget()  # what the cache's expiry does
    assert carrier.verify(_twilio_request("twilio-v2")) is True
    assert carrier.verify(_twilio_request("twilio-v1")) is False


def test_plivo_and_whatsapp_read_their_documented_secret_shapes(carrier_secrets: dict[str, str]) -> None:
    params = [("MessageUUID", "m1"), ("Status", "sent")]
    url = "https://api.switchboard.test/v1/carriers/plivo/events"
    request = WebhookRequest(
        method="POST",
        url=url,
        headers={
            "x-plivo-signature-v3": plivo.signature_v3("plivo-v1", "POST", url, params, "42"),
            "x-plivo-signature-v3-nonce": "42",
            "content-type": "application/x-www-form-urlencoded",
        },
        query={},
        raw_body=urlencode(params).encode(),
    )
    assert PlivoCarrier().verify(request) is True
    handshake = WebhookRequest(
        method="GET",
        url=url,
        headers={},
        query={"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "c"},
        raw_body=b"",
    )
    assert WhatsAppCarrier().handshake(handshake) == "c"

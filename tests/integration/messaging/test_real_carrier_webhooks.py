"""The events route with the real carriers' wire formats: form-encoded, signed, Twilio STOP and Plivo's call script."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError
from twilio.request_validator import RequestValidator

from functions.carrier_events import handler as carrier_events
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import settings
from switchboard.carriers import plivo, registry, twilio
from switchboard.crypto import secret_store
from switchboard.logic import consent
from tests.integration.conftest import Context, rest_event
from tests.integration.messaging.conftest import Account, Queues, opted_in

PHONE = "+14155552671"
TWILIO = {"account_sid": "AC" + "1" * 32, "auth_token": "twilio-test-token"}
PLIVO = {"auth_id": "MA" + "1" * 18, "auth_token": "plivo-test-token"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def carrier_secrets(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    client = boto3.client("secretsmanager")
    for env, name, value in (
        ("TWILIO_CREDENTIALS_SECRET", "twilio", TWILIO),
        ("PLIVO_CREDENTIALS_SECRET", "plivo", PLIVO),
    ):
        monkeypatch.setenv(env, client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
    settings.reload()
    secret_store.forget()
    registry.forget()
    yield
    registry.forget()


def post_form(
    carrier: str, params: list[tuple[str, str]], headers: dict[str, str], query: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    event = rest_event("POST", f"/v1/carriers/{carrier}/events", urlencode(params))
    event["headers"] = {"Content-Type": FORM, **headers}
    event["queryStringParameters"] = query
    result = carrier_events.lambda_handler(event, Context())
    content_type = result["multiValueHeaders"]["Content-Type"][0]
    return result["statusCode"], content_type, result["body"]


def events_url(carrier: str, query: dict[str, str] | None = None) -> str:
    url = settings.get().public_base_url.rstrip("/") + f"/v1/carriers/{carrier}/events"
    return url + (f"?{urlencode(query)}" if query else "")


def twilio_inbound(account: Account, sid: str, body: str) -> list[tuple[str, str]]:
    """The form Twilio posts for an SMS from PHONE to the account's sender."""
    return [
        ("MessageSid", sid),
        ("AccountSid", TWILIO["account_sid"]),
        ("SmsStatus", "received"),
        ("From", PHONE),
        ("To", account.senders["sms"]),
        ("Body", body),
    ]


def test_twilio_inbound_stop_is_verified_form_encoded_and_opts_out(account: Account, carrier_secrets: None) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    params = twilio_inbound(account, "SM" + "a" * 32, " stop ")
    forged = twilio.signature("not-the-token", events_url("twilio"), params)
    assert post_form("twilio", params, {"X-Twilio-Signature": forged})[0] == 401
    good = twilio.signature(TWILIO["auth_token"], events_url("twilio"), params)
    status, _, _ = post_form("twilio", params, {"X-Twilio-Signature": good})
    assert status == 200
    consent = account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]
    assert consent["sms"] == "opted_out"
    refused = account.call(messages_api, "POST", "/v1/messages", {"channel": "sms", "to": PHONE, "body": "Hi"})
    assert (refused.status, refused.body["code"]) == (422, "consent_required")


def test_plivo_answer_url_reads_the_voice_message_only_when_signed(account: Account, carrier_secrets: None) -> None:
    opted_in(account, recipients_api, PHONE, ("voice",))
    sent = account.call(
        messages_api, "POST", "/v1/messages", {"channel": "voice", "to": PHONE, "body": "Your code is <1234> & more"}
    )
    assert sent.status == 202
    query = {"answer": "1", "account_id": account.account_id, "message_id": sent.body["id"]}
    params = [("CallUUID", "c0ffee"), ("From", account.senders["voice"]), ("To", PHONE), ("CallStatus", "in-progress")]
    nonce = "12345678901234567890"
    signature = plivo.signature_v3(PLIVO["auth_token"], "POST", events_url("plivo", query), params, nonce)
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    status, content_type, body = post_form("plivo", params, headers, query)
    assert (status, content_type) == (200, "application/xml")
    assert body == "<Response><Speak>Your code is &lt;1234&gt; &amp; more</Speak></Response>"
    unsigned = post_form("plivo", params, {"X-Plivo-Signature-V3-Nonce": nonce}, query)
    assert unsigned[0] == 401
    other = post_form("plivo", params, headers, {**query, "message_id": "msg_nope"})
    assert other[0] == 401  # the query is signed: naming another message breaks the signature


def test_an_inbound_stop_that_fails_midway_is_applied_when_the_carrier_retries(
    account: Account, carrier_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event id is marked seen before processing: a failure must unmark it (DeleteItem, granted to
    carrier_events), or the carrier's retry would be acknowledged as a duplicate and the STOP lost."""
    rid = opted_in(account, recipients_api, PHONE)
    real_opt_out = consent.opt_out_by_phone
    failures = [ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")]

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_opt_out(*args, **kwargs)

    monkeypatch.setattr(consent, "opt_out_by_phone", fails_once)
    params = twilio_inbound(account, "SM" + "b" * 32, "STOP")
    # Signed by Twilio's own SDK, as Twilio signs what it posts.
    sdk = RequestValidator(TWILIO["auth_token"])
    signed = {"X-Twilio-Signature": sdk.compute_signature(events_url("twilio"), dict(params))}

    first, _, _ = post_form("twilio", params, signed)
    assert first >= 500  # Twilio retries a 5xx
    consent_now = account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]
    assert consent_now["sms"] == "opted_in"

    retry, _, _ = post_form("twilio", params, signed)
    assert retry == 200
    consent_now = account.call(recipients_api, "GET", f"/v1/recipients/{rid}").body["consent"]
    assert consent_now["sms"] == "opted_out"
    assert not failures

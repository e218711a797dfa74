"""Conversations (issue 14): inbound of every kind stored sealed, recipients made on first contact, replies linked to
our messages, the conversation list and timeline, agents' replies within the window, masking, erasure and raw scans."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from twilio.request_validator import RequestValidator

from functions.callback_worker import handler as callback_worker
from functions.conversations_api import handler as conversations_api
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from local.workers import sqs_event
from switchboard import clock, settings
from switchboard.carriers import sandbox
from switchboard.dal import recipients as recipients_dal
from switchboard.logic import erasure
from switchboard.logic import recipients as recipients_logic
from switchboard.models.recipients import parse_phone
from tests.integration.conftest import Context, rest_event
from tests.integration.live.test_live_recordings import run_media_worker
from tests.integration.messaging.conftest import Account, Queues, make_account, opted_in
from tests.integration.messaging.test_messages import post_event, work
from tests.integration.messaging.test_real_carrier_webhooks import (  # noqa: F401 - the carrier_secrets fixture
    PLIVO,
    TWILIO,
    carrier_secrets,
    events_url,
)
from tests.integration.moto_atomic import serialized_moto
from tests.integration.webhooks.conftest import Listener, add_endpoint

PHONE = "+14155550123"
OTHER = "+14155550456"
MASKED = "+1******0123"
DAY = 86400
# A file the worker has not settled yet, as the timeline shows it (docs/conversations.md).
PENDING = {"status": "pending", "reason": None, "file_id": None, "size": None}


def inbound(
    account: Account, body: str, *, phone: str = PHONE, channel: str = "sms", carrier: str = "sandbox-a", **extra: Any
) -> Any:
    """A signed sandbox inbound message from `phone` to the account's sender on `channel`."""
    event = {
        "type": "message.inbound",
        "id": f"sbxevt_{time.monotonic_ns()}",
        "carrier": carrier,
        "channel": channel,
        "from": phone,
        "to": account.senders[channel],
        "body": body,
        "received_at": clock.rfc3339(clock.now()),
        **extra,
    }
    answer = post_event(carrier, event)
    assert answer.status == 200, answer.body
    return answer


def conversations(account: Account, role: str = "agent", **query: str) -> Any:
    answer = account.call(conversations_api, "GET", "/v1/conversations", role=role, query=query or None)
    assert answer.status == 200, answer.body
    return answer.body


def timeline(account: Account, recipient_id: str, role: str = "agent", **query: str) -> Any:
    path = f"/v1/recipients/{recipient_id}/messages"
    answer = account.call(conversations_api, "GET", path, role=role, query=query or None)
    assert answer.status == 200, answer.body
    return answer.body


def reply(account: Account, recipient_id: str, body: str, channel: str = "sms", role: str = "agent") -> Any:
    path = f"/v1/recipients/{recipient_id}/messages"
    return account.call(conversations_api, "POST", path, {"channel": channel, "body": body}, role=role)


def only_recipient(account: Account) -> str:
    [recipient] = account.call(recipients_api, "GET", "/v1/recipients").body["data"]
    recipient_id: str = recipient["id"]
    return recipient_id


def deliver_webhooks(queues: Queues) -> None:
    messages = queues.drain("Callbacks")
    result = callback_worker.lambda_handler(sqs_event(messages, "arn:aws:sqs:eu-west-1:1:cb"), Context())
    assert result == {"batchItemFailures": []}


def test_a_first_message_makes_one_recipient_without_consent_and_an_unread_conversation(
    account: Account, queues: Queues
) -> None:
    inbound(account, "Hi, is my order ready?")
    inbound(account, "Hello?")
    recipient_id = only_recipient(account)
    recipient = account.call(recipients_api, "GET", f"/v1/recipients/{recipient_id}").body
    assert recipient["phone"] == PHONE
    assert recipient["consent"] == {"sms": None, "whatsapp": None, "voice": None}  # writing is no opt-in
    ledger = account.call(recipients_api, "GET", f"/v1/recipients/{recipient_id}/consents").body
    assert ledger["data"] == []
    [row] = conversations(account)["data"]
    assert (row["recipient_id"], row["phone"], row["unread_count"]) == (recipient_id, PHONE, 2)
    assert (row["last_direction"], row["last_channel"], row["whatsapp_window_open_until"]) == ("inbound", "sms", None)
    # Writing first allows no business-initiated send: POST /v1/messages still needs an opt-in.
    refused = account.call(messages_api, "POST", "/v1/messages", {"to": PHONE, "channel": "sms", "body": "Hi"})
    assert (refused.status, refused.body["code"]) == (422, "consent_required")


def test_two_first_messages_at_once_make_one_recipient(account: Account, queues: Queues) -> None:
    phone = parse_phone(OTHER)
    index = recipients_logic.phone_index(account.account_id, phone.e164)
    with serialized_moto(), ThreadPoolExecutor(max_workers=4) as pool:
        made = list(
            pool.map(
                lambda _: recipients_logic.on_first_contact(account.account_id, phone.e164, index, phone.country),
                range(4),
            )
        )
    assert len(set(made)) == 1
    assert made[0] is not None
    assert recipients_dal.find_by_phone(account.account_id, index) == made[0]
    listed = account.call(recipients_api, "GET", "/v1/recipients").body["data"]
    assert [r["id"] for r in listed] == [made[0]]


def test_no_recipient_is_made_for_a_number_while_its_erasure_runs(account: Account, queues: Queues) -> None:
    recipient_id = opted_in(account, recipients_api, PHONE)
    inbound(account, "before")
    marker = recipients_dal.get(account.account_id, recipient_id)
    assert marker is not None
    assert erasure.begin(account.account_id, marker)  # marked, not finished (as when its request timed out)
    inbound(account, "during")
    assert account.call(recipients_api, "GET", "/v1/recipients").body["data"] == []
    assert conversations(account)["data"] == []  # an erasure's recipient is listed nowhere
    assert erasure.run().finished == 1
    items = boto3.client("dynamodb").scan(TableName=settings.get().table("MESSAGING_TABLE"))["Items"]
    keys = [i["sk"]["S"] for i in items if i["pk"]["S"] == f"ACCT#{account.account_id}"]
    # Their messages (also the one sent during the erasure), the conversation and the erasure's note are gone.
    assert not [k for k in keys if k.startswith(("INB#", "CONV#", "ERASINGPHONE#", "RCP#"))], keys
    inbound(account, "after")  # once the erasure ended, writing again makes a new recipient
    assert only_recipient(account) != recipient_id


def test_an_inbound_reply_appears_in_the_conversation_timeline_and_webhook_with_its_stored_id(
    account: Account, queues: Queues, listener: Listener
) -> None:
    add_endpoint(account.account_id, "whe_1", listener.url, {"message.inbound"})
    recipient_id = opted_in(account, recipients_api, PHONE)
    sent = account.call(
        messages_api,
        "POST",
        "/v1/messages",
        {"recipient_id": recipient_id, "channel": "sms", "body": "Your table is ready"},
    )
    assert sent.status == 202, sent.body
    assert work(queues)["batchItemFailures"] == []
    [delivery] = sandbox.deliveries()
    other = make_account()
    other_rid = opted_in(other, recipients_api, PHONE)
    other_sent = other.call(
        messages_api, "POST", "/v1/messages", {"recipient_id": other_rid, "channel": "sms", "body": "Theirs"}
    )
    assert other_sent.status == 202
    assert work(queues)["batchItemFailures"] == []
    theirs = next(d for d in sandbox.deliveries() if d.message_id == other_sent.body["id"])

    inbound(account, "On my way", reply_to=delivery.carrier_message_id)
    inbound(account, "Wrong thread", reply_to=theirs.carrier_message_id)  # another account's message: no link
    inbound(account, "Unknown", reply_to="sbx_unknown")

    page = timeline(account, recipient_id)["data"]
    assert [(e["direction"], e["body"], e["in_reply_to"]) for e in page] == [
        ("inbound", "Unknown", None),
        ("inbound", "Wrong thread", None),
        ("inbound", "On my way", sent.body["id"]),
        ("outbound", "Your table is ready", None),
    ]
    assert page[-1]["status"] == "sent" and page[-1]["kind"] == "text"
    assert all(e["status"] is None and e["kind"] == "text" for e in page[:3])
    [row] = conversations(account)["data"]
    assert row["unread_count"] == 3

    deliver_webhooks(queues)
    events = {e["data"]["body"]: e["data"] for e in (json.loads(r.body) for r in listener.received)}
    assert sorted(events) == ["On my way", "Unknown", "Wrong thread"]
    # The webhook's id is the stored inbound message's id: the one the timeline shows.
    assert {body: data["id"] for body, data in events.items()} == {e["body"]: e["id"] for e in page[:3]}
    assert all(data["id"].startswith("inb_") for data in events.values())
    assert (events["On my way"]["in_reply_to"], events["On my way"]["recipient_id"]) == (sent.body["id"], recipient_id)
    assert events["Wrong thread"]["in_reply_to"] is None


def test_media_buttons_and_calls_are_stored_by_kind_and_never_show_the_carriers_handles(
    account: Account, queues: Queues, listener: Listener
) -> None:
    add_endpoint(account.account_id, "whe_1", listener.url, {"message.inbound"})
    media = [{"kind": "image", "id": "wa-media-1234567890", "content_type": "image/jpeg"}]
    inbound(account, "receipt", channel="whatsapp", kind="media", media=media)
    inbound(account, "Yes", channel="whatsapp", kind="button", extra={"payload": "CONFIRM-7"})
    inbound(account, "", channel="voice", kind="call")
    recipient_id = only_recipient(account)
    page = timeline(account, recipient_id)["data"]
    assert [(e["channel"], e["kind"], e["body"], e["media"]) for e in page] == [
        ("voice", "call", None, []),
        ("whatsapp", "button", "Yes", []),
        (
            "whatsapp",
            "media",
            "receipt",
            [
                {
                    "kind": "image",
                    "content_type": "image/jpeg",
                    "status": "pending",
                    "reason": None,
                    "file_id": None,
                    "size": None,
                }
            ],
        ),
    ]
    # The media message's webhook comes from media_worker once its file is settled: this handle is no sandbox media
    # id, so the file is failed (never fetched), and the webhook still goes.
    assert run_media_worker(queues.drain("CarrierMedia"))["batchItemFailures"] == []
    deliver_webhooks(queues)
    events = sorted((json.loads(r.body)["data"] for r in listener.received), key=lambda e: str(e["kind"]))
    assert [(e["kind"], e["media"], e["payload"]) for e in events] == [
        ("button", [], "CONFIRM-7"),
        ("call", [], None),
        ("media", [{"kind": "image", "content_type": "image/jpeg", "status": "failed", "reason": "not_allowed"}], None),
    ]
    shown = json.dumps(page) + json.dumps(events)
    assert "wa-media-1234567890" not in shown
    assert conversations(account)["data"][0]["unread_count"] == 3
    # They wrote on WhatsApp: free-form text is allowed there for 24 hours (R62), through the WhatsApp queue.
    assert reply(account, recipient_id, "Got it, thanks", channel="whatsapp").status == 202
    assert work(queues, "WhatsappSend")["batchItemFailures"] == []
    assert [(d.channel, d.body) for d in sandbox.deliveries()] == [("whatsapp", "Got it, thanks")]


def test_the_conversation_list_is_newest_first_paged_and_marked_read(account: Account, queues: Queues) -> None:
    inbound(account, "first", phone=PHONE)
    clock.advance(5)
    inbound(account, "second", phone=OTHER, channel="whatsapp")
    first, second = conversations(account)["data"]
    assert (first["phone"], second["phone"]) == (OTHER, PHONE)
    until = clock.parse(first["whatsapp_window_open_until"]).timestamp()
    assert abs(until - (clock.timestamp() + DAY)) < 3
    one = conversations(account, limit="1")
    assert [r["phone"] for r in one["data"]] == [OTHER]
    rest = conversations(account, limit="1", cursor=one["next_cursor"])
    assert [r["phone"] for r in rest["data"]] == [PHONE]
    bad = account.call(conversations_api, "GET", "/v1/conversations", query={"cursor": "nope"})
    assert (bad.status, bad.body["code"]) == (400, "invalid_cursor")
    # Our reply moves the conversation to the top; it adds nothing unread.
    clock.advance(5)
    assert reply(account, second["recipient_id"], "Thanks!").status == 202
    top = conversations(account)["data"][0]
    assert (top["phone"], top["last_direction"], top["unread_count"]) == (PHONE, "outbound", 1)
    read = account.call(conversations_api, "POST", f"/v1/conversations/{second['recipient_id']}/read", role="agent")
    assert read.status == 204
    assert conversations(account)["data"][0]["unread_count"] == 0
    viewer = account.call(conversations_api, "POST", f"/v1/conversations/{second['recipient_id']}/read", role="viewer")
    assert viewer.status == 403


def test_an_agent_replies_within_the_window_and_is_refused_outside_it(account: Account, queues: Queues) -> None:
    inbound(account, "Can you call me back?")
    recipient_id = only_recipient(account)
    answer = reply(account, recipient_id, "Calling you in 5 minutes")
    assert answer.status == 202, answer.body
    assert (answer.body["status"], answer.body["to"], answer.body["recipient_id"]) == ("queued", PHONE, recipient_id)
    assert work(queues)["batchItemFailures"] == []
    [delivery] = sandbox.deliveries()
    assert (delivery.to, delivery.body, delivery.message_id) == (PHONE, "Calling you in 5 minutes", answer.body["id"])
    assert account.call(messages_api, "GET", f"/v1/messages/{answer.body['id']}").body["status"] == "sent"
    # WhatsApp: they never wrote there, so free-form text needs a template.
    whatsapp = reply(account, recipient_id, "Hi", channel="whatsapp")
    assert (whatsapp.status, whatsapp.body["code"]) == (422, "template_required")
    clock.advance(DAY + 1)
    late = reply(account, recipient_id, "Still there?")
    assert (late.status, late.body["code"]) == (422, "reply_window_closed")
    assert queues.drain("SmsSend") == []
    viewer = reply(account, recipient_id, "Hi", role="viewer")
    assert viewer.status == 403


def test_a_queued_reply_fails_when_the_window_closes_or_they_opt_out_before_it_is_sent(
    account: Account, queues: Queues
) -> None:
    inbound(account, "hello")
    recipient_id = only_recipient(account)
    assert reply(account, recipient_id, "one").status == 202
    clock.advance(DAY + 1)  # queued, then the window closed before the worker took it
    assert work(queues)["batchItemFailures"] == []
    assert sandbox.deliveries() == []
    inbound(account, "hello again")
    queued = reply(account, recipient_id, "two")
    assert queued.status == 202
    inbound(account, "STOP")
    assert work(queues)["batchItemFailures"] == []
    assert sandbox.deliveries() == []
    log = account.call(messages_api, "GET", f"/v1/messages/{queued.body['id']}").body
    assert (log["status"], log["error"]["code"]) == ("failed", "recipient_opted_out")
    refused = reply(account, recipient_id, "three")
    assert (refused.status, refused.body["code"]) == (409, "recipient_opted_out")


def test_viewers_see_masked_numbers_and_no_bodies(account: Account, queues: Queues) -> None:
    media = [{"kind": "document", "id": "doc-handle-1", "content_type": "application/pdf"}]
    inbound(account, "my secret plan", kind="media", media=media)
    recipient_id = only_recipient(account)
    assert reply(account, recipient_id, "our secret answer").status == 202
    [row] = conversations(account, role="viewer")["data"]
    assert row["phone"] == MASKED
    entries = timeline(account, recipient_id, role="viewer")["data"]
    assert [e["body"] for e in entries] == [None, None]
    assert entries[1]["media"] == [{"kind": "document", "content_type": None, **PENDING}]
    text = json.dumps([row, entries])
    assert "secret" not in text and PHONE not in text
    full = timeline(account, recipient_id, role="agent")["data"]
    assert [e["body"] for e in full] == ["our secret answer", "my secret plan"]
    # The single message's log shows a viewer no body either.
    message = account.call(messages_api, "GET", f"/v1/messages/{full[0]['id']}", role="viewer").body
    assert (message["body"], message["to"]) == (None, MASKED)


def test_another_accounts_recipient_is_404_on_every_conversation_route(account: Account, queues: Queues) -> None:
    other = make_account()
    inbound(other, "hello")
    theirs = only_recipient(other)
    for method, path, body in (
        ("GET", f"/v1/recipients/{theirs}/messages", None),
        ("POST", f"/v1/recipients/{theirs}/messages", {"channel": "sms", "body": "hi"}),
        ("POST", f"/v1/conversations/{theirs}/read", None),
    ):
        answer = account.call(conversations_api, method, path, body)
        assert answer.status == 404, (method, path, answer.body)
    assert conversations(account)["data"] == []


def test_the_timeline_pages_newest_first_in_both_directions(account: Account, queues: Queues) -> None:
    inbound(account, "m0")
    recipient_id = only_recipient(account)
    for n in range(1, 5):
        clock.advance(1)
        if n % 2:
            assert reply(account, recipient_id, f"m{n}").status == 202
        else:
            inbound(account, f"m{n}")
    bodies, cursor = [], None
    while True:
        page = timeline(account, recipient_id, limit="2", **({"cursor": cursor} if cursor else {}))
        bodies += [(e["direction"], e["body"]) for e in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert bodies == [
        ("inbound", "m4"),
        ("outbound", "m3"),
        ("inbound", "m2"),
        ("outbound", "m1"),
        ("inbound", "m0"),
    ]


def test_erasure_leaves_no_conversation_and_no_table_holds_a_number_or_body_in_clear(
    account: Account, queues: Queues, aws: dict[str, str]
) -> None:
    media = [{"kind": "image", "id": "media-handle-xyz", "content_type": "image/png"}]
    inbound(account, "plaintext inbound body", kind="media", media=media)
    inbound(account, "a button", channel="whatsapp", kind="button", extra={"payload": "payload-in-clear"})
    recipient_id = only_recipient(account)
    assert reply(account, recipient_id, "plaintext reply body").status == 202
    dynamo = boto3.client("dynamodb")
    for table in aws.values():
        text = str(dynamo.scan(TableName=table)["Items"])
        for secret in ("4155550123", "plaintext", "media-handle-xyz", "payload-in-clear"):
            assert secret not in text, (table, secret)
    assert account.call(recipients_api, "DELETE", f"/v1/recipients/{recipient_id}").status == 204
    items = dynamo.scan(TableName=aws["MESSAGING_TABLE"])["Items"]
    keys = [i["sk"]["S"] for i in items if i["pk"]["S"] == f"ACCT#{account.account_id}"]
    assert not [k for k in keys if k.startswith(("CONV#", "INB#", "LASTIN#", "ERASINGPHONE#"))], keys
    assert conversations(account)["data"] == []
    assert timeline_answer(account, recipient_id) == 404


def timeline_answer(account: Account, recipient_id: str) -> int:
    status: int = account.call(conversations_api, "GET", f"/v1/recipients/{recipient_id}/messages").status
    return status


def _post_form(carrier: str, params: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, str, str]:
    from functions.carrier_events import handler as carrier_events  # noqa: PLC0415 - the route under test

    event = rest_event("POST", f"/v1/carriers/{carrier}/events", urlencode(params))
    event["headers"] = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    result = carrier_events.lambda_handler(event, Context())
    return result["statusCode"], result["multiValueHeaders"]["Content-Type"][0], result["body"]


@pytest.mark.usefixtures("carrier_secrets")
def test_real_carriers_media_buttons_and_calls_signed_by_their_sdks(account: Account, queues: Queues) -> None:
    from plivo.utils.signature_v3 import construct_post_url, get_signature_v3  # noqa: PLC0415

    twilio_sdk = RequestValidator(TWILIO["auth_token"])
    mms = [
        ("MessageSid", "MM" + "1" * 32),
        ("SmsStatus", "received"),
        ("From", PHONE),
        ("To", account.senders["sms"]),
        ("Body", "see attached"),
        ("NumMedia", "1"),
        ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME-secret-handle"),
        ("MediaContentType0", "image/gif"),
    ]
    call = [
        ("CallSid", "CA" + "2" * 32),
        ("From", PHONE),
        ("To", account.senders["voice"]),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    for params in (mms, call):
        signature = twilio_sdk.compute_signature(events_url("twilio"), dict(params))
        status, content_type, body = _post_form("twilio", params, {"X-Twilio-Signature": signature})
        assert status == 200, body
    assert (content_type, "<Reject" in body) == ("application/xml", True)  # the call gets instructions back
    nonce = "31415926535897932384"
    plivo_call = [
        ("CallUUID", "e1ab2c3d-0000-4000-8000-000000000002"),
        ("From", PHONE.lstrip("+")),
        ("To", account.senders["voice"].lstrip("+")),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("Event", "StartApp"),
    ]
    base = construct_post_url(events_url("plivo"), dict(plivo_call)).decode()
    signed = get_signature_v3(PLIVO["auth_token"].encode(), base, nonce.encode()).decode()
    status, content_type, body = _post_form(
        "plivo", plivo_call, {"X-Plivo-Signature-V3": signed, "X-Plivo-Signature-V3-Nonce": nonce}
    )
    assert (status, content_type) == (200, "application/xml"), body
    recipient_id = only_recipient(account)
    page = timeline(account, recipient_id)["data"]
    assert [(e["channel"], e["kind"], e["body"], e["media"]) for e in page] == [
        ("voice", "call", None, []),
        ("voice", "call", None, []),
        (
            "sms",
            "media",
            "see attached",
            [
                {
                    "kind": "image",
                    "content_type": "image/gif",
                    "status": "pending",
                    "reason": None,
                    "file_id": None,
                    "size": None,
                }
            ],
        ),
    ]
    assert "ME-secret-handle" not in json.dumps(page)
    # A call opens the voice reply window: the business may call back with a message.
    assert reply(account, recipient_id, "We called you back", channel="voice").status == 202

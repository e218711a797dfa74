"""Media on sends in STAGE=dev through the real adapters: Twilio's repeated MediaUrl, Plivo's `mms` with `media_urls`
and Meta's media objects by link, each checked against the provider's SDK (Twilio, Plivo) or Meta's documented shape,
and each fake carrier fetching every link through our public route and getting the exact bytes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from functions.media_links import handler as media_links
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import catalog, clock
from switchboard.crypto import media_links as tokens
from switchboard.logic import receipts
from tests.integration import files_support
from tests.integration.conftest import Context, rest_event
from tests.integration.files_support import pdf, png
from tests.integration.live.conftest import (
    PHONE,
    PLIVO,
    PUBLIC_BASE_URL,
    SENDERS,
    TWILIO,
    Carriers,
    attempts,
    callback_url,
    events_url,
    log,
    run_send_worker,
    to_gateway,
)
from tests.integration.messaging.conftest import Account, Queues, opted_in

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64


def fetch_link(url: str) -> tuple[int, bytes, str]:
    """A carrier's GET of a media link, as API Gateway hands it to media_links (public route, no authorizer)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE_URL, url  # our public API, nothing else
    token = parts.path.removeprefix("/v1/media/")
    event = rest_event("GET", parts.path)
    event["resource"] = catalog.api_resource("/v1/media/{token}")  # deployed: below the links API's mapping
    event["pathParameters"] = {"token": token}
    result = media_links.lambda_handler(event, Context())
    headers = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()} | (result.get("headers") or {})
    body = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else (result.get("body") or "").encode()
    return result["statusCode"], body, headers.get("Content-Type", "")


@pytest.fixture
def fetching(carriers: Carriers) -> Iterator[Carriers]:
    """The fake carriers fetch the links they are handed through our public route."""
    for fake in (carriers.twilio, carriers.plivo, carriers.whatsapp):
        fake.fetch_link = fetch_link
    yield carriers


def upload(account: Account, data: bytes, content_type: str) -> str:
    answer = files_support.call(account.account_id, "POST", "/v1/files", data=data, content_type=content_type)
    assert answer.status == 201, answer.body
    file_id: str = answer.body["id"]
    return file_id


def send(account: Account, channel: str, media: list[str], body: str | None = None) -> str:
    fields = {"to": PHONE, "channel": channel, "media": media, **({"body": body} if body else {})}
    answer = account.call(messages_api, "POST", "/v1/messages", fields)
    assert answer.status == 202, answer.body
    message_id: str = answer.body["id"]
    return message_id


def carrier_of(url: str) -> str:
    parsed = tokens.parse(url.rsplit("/", 1)[1])
    assert parsed is not None
    return parsed.claims.carrier


def test_live_mms_through_twilio_sends_one_media_url_per_file_and_twilio_fetches_the_exact_bytes(
    account: Account, dev: Queues, fetching: Carriers
) -> None:
    opted_in(account, recipients_api, PHONE)
    image, document = png(b"live mms"), pdf("live mms")
    files = [upload(account, image, "image/png"), upload(account, document, "application/pdf")]
    message_id = send(account, "sms", files, "Your boarding pass")

    assert run_send_worker(dev, "SmsSend")["batchItemFailures"] == []

    [sent] = fetching.twilio.accepted()
    urls = sent.fields["MediaUrl"]
    assert [u.rsplit("/", 1)[0] for u in urls] == [f"{PUBLIC_BASE_URL}/v1/media"] * 2
    assert {carrier_of(u) for u in urls} == {"twilio"}
    # The form is exactly what twilio-python's messages.create(body=..., media_url=[...]) sends (the fake compares).
    assert (sent.fields["Body"], sent.fields["StatusCallback"]) == (
        "Your boarding pass",
        callback_url("twilio", account, message_id),
    )
    assert [fetching.twilio.fetched[u] for u in urls] == [(200, image, "image/png"), (200, document, "application/pdf")]
    entry = log(account, message_id)
    assert (entry["status"], entry["carrier"]) == ("sent", "twilio")
    assert [m["file_id"] for m in entry["media"]] == files


def test_live_mms_fails_over_to_plivo_with_links_of_its_own(account: Account, dev: Queues, fetching: Carriers) -> None:
    fetching.twilio.outage = 503
    opted_in(account, recipients_api, PHONE)
    image = png(b"live plivo")
    file_id = upload(account, image, "image/png")
    message_id = send(account, "sms", [file_id])  # no text: an MMS of the picture alone

    assert run_send_worker(dev, "SmsSend")["batchItemFailures"] == []

    twilio_form = fetching.twilio.seen[0].body.decode()
    assert "MediaUrl=" in twilio_form and "Body=" not in twilio_form
    [sent] = fetching.plivo.accepted()
    [url] = sent.fields["media_urls"]
    # Plivo's message API: type mms, the links, no text; exactly what plivo-python sends (the fake compares).
    assert sent.fields == {
        "src": SENDERS["sms"].removeprefix("+"),
        "dst": PHONE.removeprefix("+"),
        "url": callback_url("plivo", account, message_id),
        "method": "POST",
        "type": "mms",
        "media_urls": [url],
    }
    assert fetching.plivo.seen[0].path == f"/v1/Account/{PLIVO['auth_id']}/Message/"
    assert carrier_of(url) == "plivo"  # a new link: Twilio's would not serve Plivo
    assert fetching.plivo.fetched[url] == (200, image, "image/png")
    assert attempts(log(account, message_id)) == [("twilio", "failed"), ("plivo", "accepted")]
    assert TWILIO["account_sid"] in fetching.twilio.seen[0].path


WHATSAPP_CASES = {
    # file, its type, the caption sent, Meta's message type, the media object's fields besides the link
    "image": (png(b"live wa"), "image/png", "Your table", {"caption": "Your table"}),
    "document": (pdf("live wa"), "application/pdf", "The menu", {"caption": "The menu", "filename": ".pdf"}),
    "audio": (MP3, "audio/mpeg", None, {}),
}


@pytest.mark.parametrize("kind", sorted(WHATSAPP_CASES))
def test_live_whatsapp_media_goes_to_meta_by_link_and_meta_fetches_it(
    account: Account, dev: Queues, fetching: Carriers, kind: str
) -> None:
    data, content_type, caption, extra = WHATSAPP_CASES[kind]
    opted_in(account, recipients_api, PHONE, ("whatsapp",))
    hello = fetching.whatsapp.inbound(
        events_url("whatsapp"), from_=PHONE, to=SENDERS["whatsapp"], body="Hi", timestamp=int(clock.timestamp())
    )
    assert to_gateway(hello).status == 200
    file_id = upload(account, data, content_type)
    message_id = send(account, "whatsapp", [file_id], caption)

    assert run_send_worker(dev, "WhatsappSend")["batchItemFailures"] == []

    [seen] = fetching.whatsapp.seen
    payload = json.loads(seen.body)
    url = payload[kind]["link"]
    expected = {k: (file_id + v if k == "filename" else v) for k, v in extra.items()}
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE,
        "type": kind,
        kind: {"link": url, **expected},
        "biz_opaque_callback_data": receipts.callback_ref(account.account_id, message_id),
    }
    assert carrier_of(url) == "whatsapp"
    assert fetching.whatsapp.fetched[url] == (200, data, content_type)
    assert log(account, message_id)["carrier"] == "whatsapp"

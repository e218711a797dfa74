"""Media on sends under moto: accept-time checks per channel, the send worker's per-carrier links, and the public
link route (media_links) refusing every token that is not exactly one we minted, unexpired, for a live message."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import boto3
import pytest

from functions.conversations_api import handler as conversations_api
from functions.media_links import handler as media_links
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import catalog
from switchboard.carriers import sandbox
from switchboard.crypto import envelope
from switchboard.crypto import media_links as tokens
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.keys import account_pk
from switchboard.logic import media
from tests.integration import files_support
from tests.integration.conftest import Context, rest_event
from tests.integration.files_support import pdf, png
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.messaging.conftest import Account, Queues, opted_in
from tests.integration.messaging.test_messages import callbacks, inbound, work
from tests.integration.webhooks.conftest import add_endpoint

PHONE = "+14155552671"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _sandbox_clean() -> None:
    sandbox.reset()


def upload(account: Account, data: bytes, content_type: str = "image/png") -> str:
    answer = files_support.call(account.account_id, "POST", "/v1/files", data=data, content_type=content_type)
    assert answer.status == 201, answer.body
    file_id: str = answer.body["id"]
    return file_id


def send(account: Account, **fields: Any) -> Any:
    return account.call(messages_api, "POST", "/v1/messages", {"channel": "sms", **fields})


@dataclasses.dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(url_or_token: str) -> Fetched:
    """GET /v1/media/{token} as API Gateway invokes media_links: no authorizer, nothing but the path."""
    token = url_or_token.rsplit("/", 1)[-1]
    event = rest_event("GET", f"/v1/media/{token}")
    event["resource"] = catalog.api_resource("/v1/media/{token}")  # deployed: below the links API's mapping
    event["pathParameters"] = {"token": token}
    event["headers"]["Accept"] = "*/*"
    event["multiValueHeaders"]["Accept"] = ["*/*"]
    result = media_links.lambda_handler(event, Context())
    headers = {k: v[0] for k, v in (result.get("multiValueHeaders") or {}).items()} | (result.get("headers") or {})
    text = result.get("body") or ""
    raw = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
    return Fetched(result["statusCode"], headers, raw)


def refused(answer: Fetched) -> bool:
    """The one refusal: 404 problem, the same detail whatever failed."""
    problem = json.loads(answer.body)
    return answer.status == 404 and (problem["code"], problem["detail"]) == ("not_found", "Not found.")


def delivered_media(message_id: str) -> list[dict[str, str]]:
    [delivery] = [d for d in sandbox.deliveries() if d.message_id == message_id]
    return list(delivery.media)


def claims_of(url: str) -> tokens.LinkClaims:
    parsed = tokens.parse(url.rsplit("/", 1)[-1])
    assert parsed is not None
    return parsed.claims


def test_accept_checks_each_file_for_its_channel_and_queues_nothing_refused(
    account: Account, other_account: Account, queues: Queues
) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("sms", "whatsapp", "voice"))
    image, gif, wav = upload(account, png(b"a")), upload(account, GIF, "image/gif"), upload(account, WAV, "audio/wav")
    theirs = upload(other_account, png(b"theirs"))
    pending = files_support.call(
        account.account_id, "POST", "/v1/files", json_body={"content_type": "image/png", "size": 100}
    ).body["id"]
    deleted = upload(account, png(b"gone"))
    assert files_support.call(account.account_id, "DELETE", f"/v1/files/{deleted}").status == 204

    def problem(**fields: Any) -> tuple[int, str, list[str]]:
        answer = send(account, recipient_id=rid, **fields)
        return answer.status, answer.body["code"], [e["pointer"] for e in answer.body.get("errors", [])]

    # No oracle: unknown, another account's, pending and deleted files are one answer.
    unknown = "fil_" + "0" * 26
    for missing in (unknown, theirs, pending, deleted):
        assert problem(media=[image, missing]) == (422, "media_not_found", ["/media/1"]), missing
    # Per channel: WhatsApp carries neither GIF nor WAV, and one file; voice none; templates none.
    assert problem(channel="whatsapp", media=[gif]) == (422, "media_not_allowed", ["/media/0"])
    assert problem(channel="whatsapp", body="x", media=[image, image]) == (422, "media_not_allowed", ["/media"])
    assert problem(channel="voice", body="x", media=[image]) == (422, "media_not_allowed", ["/media"])
    template = {"name": "t", "language": "en_US", "parameters": []}
    assert problem(channel="whatsapp", template=template, media=[image]) == (422, "media_not_allowed", ["/media"])
    assert problem(media=[image, image]) == (422, "media_not_allowed", ["/media/1"])
    # MMS: every type of ours but WebP, 10 files at most, 5 MB in all.
    assert problem(media=[image] * 11)[0] == 422
    big = [upload(account, png(bytes(2_000_000 + i))) for i in range(3)]
    assert problem(media=big) == (422, "media_not_allowed", ["/media"])
    assert problem() == (422, "validation_failed", ["/body"])  # neither body, template nor media
    assert queues.drain("SmsSend") == [] and queues.drain("WhatsappSend") == []

    ok = send(account, recipient_id=rid, media=[image, gif, wav, big[0]])
    assert ok.status == 202, ok.body
    assert [(m["file_id"], m["content_type"]) for m in ok.body["media"]] == [
        (image, "image/png"),
        (gif, "image/gif"),
        (wav, "audio/wav"),
        (big[0], "image/png"),
    ]
    assert ok.body["body"] is None


def test_whatsapp_media_needs_the_window_and_audio_takes_no_caption(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE, ("whatsapp",))
    image, audio = upload(account, png(b"wa")), upload(account, MP3, "audio/mpeg")
    closed = send(account, recipient_id=rid, channel="whatsapp", media=[image])
    assert (closed.status, closed.body["code"]) == (422, "template_required")  # media is free-form too
    inbound(account, "hi", channel="whatsapp")
    captioned = send(account, recipient_id=rid, channel="whatsapp", body="listen", media=[audio])
    assert (captioned.status, captioned.body["errors"][0]["pointer"]) == (422, "/body")
    assert send(account, recipient_id=rid, channel="whatsapp", media=[audio]).status == 202
    assert send(account, recipient_id=rid, channel="whatsapp", body="look", media=[image]).status == 202
    work(queues, "WhatsappSend")
    kinds = sorted((d.body, d.media[0]["kind"]) for d in sandbox.deliveries())
    assert kinds == [("", "audio"), ("look", "image")]


def test_the_idempotency_key_covers_the_media(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    first, second = upload(account, png(b"1")), upload(account, png(b"2"))
    key = {"Idempotency-Key": "media-once"}

    def post(file_id: str) -> Any:
        body = {"channel": "sms", "recipient_id": rid, "media": [file_id]}
        return account.call(messages_api, "POST", "/v1/messages", body, headers=key)

    one = post(first)
    assert one.status == 202
    again = post(first)
    assert (again.status, again.body["id"]) == (202, one.body["id"])
    other = post(second)
    assert (other.status, other.body["code"]) == (422, "idempotency_key_reused")


def test_links_serve_exactly_until_expiry_and_nothing_else(
    account: Account, other_account: Account, queues: Queues, frozen: FrozenClock
) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    data = pdf("the exact bytes")
    file_id = upload(account, data, "application/pdf")
    message_id = send(account, recipient_id=rid, body="Your invoice", media=[file_id]).body["id"]
    work(queues)
    [link] = delivered_media(message_id)
    claims = claims_of(link["url"])
    assert (claims.account_id, claims.file_id, claims.message_id, claims.carrier) == (
        account.account_id,
        file_id,
        message_id,
        "sandbox-a",
    )
    assert claims.expires_at == int(frozen.now) + media.LINK_TTL_S
    assert link["url"].startswith("https://api.switchboard.example/v1/media/")  # the stage's public base URL

    served = fetch(link["url"])
    assert (served.status, served.body) == (200, data)
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Length"] == str(len(data))
    assert served.headers["Content-Disposition"] == f'inline; filename="{file_id}.pdf"'
    assert served.headers["Cache-Control"] == "no-store, private"
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    # Another account's key cannot mint for this account; a valid token for a file the message does not list is no
    # good either (the link is for this message's file only).
    other_key = tokens.link_key(envelope.data_key(other_account.account_id))
    assert refused(fetch(tokens.mint(other_key, claims)))
    stray = upload(account, png(b"not sent"))
    assert refused(fetch(media.link(account.account_id, stray, message_id, "sandbox-a")))
    # Another carrier's name under this MAC.
    forged = tokens.mint(b"x" * 32, dataclasses.replace(claims, carrier="sandbox-b")).split(".")[0]
    assert refused(fetch(f"{forged}.{link['url'].rsplit('.', 1)[1]}"))
    assert refused(fetch("not-a-token"))

    # The expiry boundary: valid through its last second, refused after it.
    frozen.advance(claims.expires_at - frozen.now)
    assert fetch(link["url"]).status == 200
    frozen.advance(1)
    assert refused(fetch(link["url"]))


def test_links_die_with_the_file_the_message_and_the_accounts_key(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    first, second = upload(account, png(b"one")), upload(account, png(b"two"))
    message_id = send(account, recipient_id=rid, media=[first, second]).body["id"]
    work(queues)
    by_file = {claims_of(m["url"]).file_id: m["url"] for m in delivered_media(message_id)}
    assert fetch(by_file[first]).status == fetch(by_file[second]).status == 200

    assert files_support.call(account.account_id, "DELETE", f"/v1/files/{first}").status == 204
    assert refused(fetch(by_file[first]))
    assert fetch(by_file[second]).status == 200

    table = boto3.resource("dynamodb").Table(f"test-{catalog.table('Messaging').id}")
    table.delete_item(Key={"pk": account_pk(account.account_id), "sk": f"MSG#{message_id}"})  # e.g. retention
    assert refused(fetch(by_file[second]))

    third = upload(account, png(b"three"))
    again = send(account, recipient_id=rid, media=[third]).body["id"]
    work(queues)
    [link] = delivered_media(again)
    envelope.shred(account.account_id)
    envelope.forget_cached_keys()
    assert refused(fetch(link["url"]))


def test_a_failover_hands_the_next_carrier_links_of_its_own(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    file_id = upload(account, png(b"failover"))
    sandbox.set_state("sandbox-a", sandbox.State.DOWN)
    message_id = send(account, recipient_id=rid, media=[file_id]).body["id"]
    work(queues)
    [link] = delivered_media(message_id)
    assert claims_of(link["url"]).carrier == "sandbox-b"
    assert fetch(link["url"]).status == 200


def test_a_file_deleted_while_queued_fails_the_message_without_sending(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    file_id = upload(account, png(b"short-lived"))
    message_id = send(account, recipient_id=rid, body="see attached", media=[file_id]).body["id"]
    assert files_support.call(account.account_id, "DELETE", f"/v1/files/{file_id}").status == 204
    work(queues)
    log = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert (log["status"], log["error"]["code"]) == ("failed", "media_unavailable")
    assert log["media"] == [{"file_id": file_id, "content_type": "image/png", "size": len(png(b"short-lived"))}]
    assert sandbox.deliveries() == []


def test_an_agent_replies_with_media_and_the_timeline_shows_it(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    inbound(account, "can you send the map?")
    file_id = upload(account, png(b"map"))
    reply = account.call(
        conversations_api,
        "POST",
        f"/v1/recipients/{rid}/messages",
        {"channel": "sms", "media": [file_id]},
        role="agent",
    )
    assert reply.status == 202, reply.body
    work(queues)
    callbacks()
    assert fetch(delivered_media(reply.body["id"])[0]["url"]).body == png(b"map")
    timeline = account.call(conversations_api, "GET", f"/v1/recipients/{rid}/messages").body["data"]
    ours = next(e for e in timeline if e["id"] == reply.body["id"])
    assert ours["kind"] == "media"
    assert ours["media"] == [
        # One shape for both directions: our own files have no fetch status (inbound files do).
        {
            "kind": "image",
            "content_type": "image/png",
            "status": None,
            "reason": None,
            "file_id": file_id,
            "size": len(png(b"map")),
        }
    ]
    empty = account.call(conversations_api, "POST", f"/v1/recipients/{rid}/messages", {"channel": "sms"})
    assert empty.status == 422


def test_broadcasts_refuse_media_and_status_webhooks_show_it(account: Account, queues: Queues) -> None:
    rid = opted_in(account, recipients_api, PHONE)
    file_id = upload(account, png(b"hook"))
    list_id = account.call(recipients_api, "POST", "/v1/lists", {"name": "all"}).body["id"]
    account.call(recipients_api, "POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [rid]})
    broadcast = {"list_id": list_id, "channel": "sms", "body": "Hi all", "media": [file_id]}
    refused_broadcast = account.call(messages_api, "POST", "/v1/broadcasts", broadcast)
    assert (refused_broadcast.status, refused_broadcast.body["code"]) == (422, "media_not_allowed")
    assert queues.drain("SmsSend") == []

    add_endpoint(account.account_id, "whe_1", "https://hooks.example/x", {"message.status"})
    send(account, recipient_id=rid, media=[file_id])
    work(queues)
    jobs = [json.loads(m["Body"]) for m in queues.drain("Callbacks")]
    events = [json.loads(webhooks_dal.open_event(j["account_id"], j["event_id"], j["sealed_event"])) for j in jobs]
    expected = [{"file_id": file_id, "content_type": "image/png", "size": len(png(b"hook"))}]
    assert [e["data"]["status"] for e in events] == ["sending", "sent"]
    assert all(e["data"]["media"] == expected for e in events)

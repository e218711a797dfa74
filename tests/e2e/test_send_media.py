"""Media on sends through `make dev`'s stack: files uploaded, sent as MMS and on WhatsApp, the sandbox carrier fetches
each single-purpose link through the gateway (the real route), and the links die with time, tampering and deletion."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.test_conversations import wait_for
from tests.e2e.test_messaging import PASSWORD
from tests.integration.files_support import pdf, png

pytestmark = pytest.mark.e2e
PHONE = "+14155550188"


def _signup(stack: LocalStack, name: str) -> dict[str, str]:
    """A verified owner's developer and viewer API keys (keys outlive the clock moves below; sessions would not)."""
    email = f"media-{secrets.token_hex(4)}@example.com"
    assert (
        stack.request("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": name}).status == 202
    )
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    session = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    keys = {}
    for role in ("developer", "viewer"):
        body = {"name": role, "role": role}
        created = stack.request("POST", "/v1/api-keys", body, headers={"Authorization": f"Bearer {session}"})
        assert created.status == 201, created.text
        keys[role] = created.json()["key"]
    return keys


def call(stack: LocalStack, key: str, method: str, path: str, body: Any = None) -> Any:
    return stack.request(method, path, body, headers={"Authorization": f"Bearer {key}"})


def upload(stack: LocalStack, key: str, data: bytes, content_type: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    created = stack.request("POST", "/v1/files", raw=data, headers=headers)
    assert created.status == 201, created.text
    file: dict[str, Any] = created.json()
    return file


def delivery(stack: LocalStack, message_id: str) -> dict[str, Any]:
    """The sandbox's delivery of a message once it fetched every link (it fetches before reporting delivered)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [d for d in stack.request("GET", "/_local/deliveries").json()["data"] if d["message_id"] == message_id]
        if found and all(m["fetched"] for m in found[0].get("media", [])):
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no delivery of {message_id} with its media fetched")


def fetch(stack: LocalStack, url: str) -> Any:
    """A media link as a carrier fetches it: no credentials."""
    return stack.request("GET", url.removeprefix(stack.base_url), headers={"Accept": "*/*"})


def with_message(token: str, message_id: str) -> str:
    """The token with another message id in its payload (and its MAC left as it was)."""
    encoded, mac = token.split(".")
    payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode().split("|")
    payload[3] = message_id
    forged = base64.urlsafe_b64encode("|".join(payload).encode()).decode().rstrip("=")
    return f"{forged}.{mac}"


@pytest.fixture(scope="module")
def world(stack: LocalStack) -> dict[str, Any]:
    """An account with a recipient opted in on SMS and WhatsApp who wrote on WhatsApp (the window is open)."""
    keys = _signup(stack, "Gallery")
    dev = keys["developer"]
    rid = call(stack, dev, "POST", "/v1/recipients", {"phone": PHONE}).json()["id"]
    for channel in ("sms", "whatsapp"):
        consent = {"channel": channel, "status": "opted_in", "source": "web_form"}
        assert call(stack, dev, "POST", f"/v1/recipients/{rid}/consents", consent).status == 201
    senders = {s["channel"]: s["number"] for s in call(stack, dev, "GET", "/v1/account").json()["senders"]}
    inbound = {"from": PHONE, "to": senders["whatsapp"], "body": "send me the picture", "channel": "whatsapp"}
    assert stack.request("POST", "/_local/carriers/sandbox-a/inbound", inbound).status == 200
    return {"keys": keys, "rid": rid}


def test_mms_and_whatsapp_media_are_fetched_by_the_carrier_through_their_links(
    stack: LocalStack, world: dict[str, Any]
) -> None:
    dev, rid = world["keys"]["developer"], world["rid"]
    image, document = png(b"e2e media"), pdf("e2e media")
    image_file, pdf_file = upload(stack, dev, image, "image/png"), upload(stack, dev, document, "application/pdf")

    mms = {"recipient_id": rid, "channel": "sms", "body": "Your tickets", "media": [image_file["id"], pdf_file["id"]]}
    sent = call(stack, dev, "POST", "/v1/messages", mms)
    assert sent.status == 202, sent.text
    assert sent.json()["media"] == [
        {"file_id": image_file["id"], "content_type": "image/png", "size": len(image)},
        {"file_id": pdf_file["id"], "content_type": "application/pdf", "size": len(document)},
    ]
    log = wait_for(stack, dev, sent.json()["id"], "delivered")
    assert [m["file_id"] for m in log["media"]] == [image_file["id"], pdf_file["id"]]
    got = delivery(stack, log["id"])
    assert got["body"] == "Your tickets"
    assert [(m["fetched"]["status"], m["fetched"]["sha256"], m["fetched"]["content_type"]) for m in got["media"]] == [
        (200, hashlib.sha256(image).hexdigest(), "image/png"),
        (200, hashlib.sha256(document).hexdigest(), "application/pdf"),
    ]
    assert all(m["url"].startswith(f"{stack.base_url}/v1/media/") for m in got["media"])

    caption = {"recipient_id": rid, "channel": "whatsapp", "body": "Here it is", "media": [image_file["id"]]}
    sent_wa = call(stack, dev, "POST", "/v1/messages", caption)
    assert sent_wa.status == 202, sent_wa.text
    wa = wait_for(stack, dev, sent_wa.json()["id"], "delivered")
    got_wa = delivery(stack, wa["id"])
    assert got_wa["channel"] == "whatsapp"
    assert (got_wa["media"][0]["kind"], got_wa["media"][0]["fetched"]["sha256"]) == (
        "image",
        hashlib.sha256(image).hexdigest(),
    )

    # The link serves the exact bytes, inline, never cached; the same link naming another message is refused.
    url = got["media"][0]["url"]
    answer = fetch(stack, url)
    assert (answer.status, answer.body) == (200, image)
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Cache-Control"] == "no-store, private"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Disposition"] == f'inline; filename="{image_file["id"]}.png"'
    token = url.rsplit("/", 1)[1]
    forged = fetch(stack, f"{stack.base_url}/v1/media/{with_message(token, wa['id'])}")
    assert (forged.status, forged.json()["code"]) == (404, "not_found")
    assert forged.json()["detail"] == fetch(stack, f"{stack.base_url}/v1/media/x.y").json()["detail"]

    # The timeline shows what was sent with each message (ids, types, sizes).
    timeline = call(stack, dev, "GET", f"/v1/recipients/{rid}/messages").json()["data"]
    ours = next(e for e in timeline if e["id"] == log["id"])
    assert (ours["kind"], [m["file_id"] for m in ours["media"]]) == ("media", [image_file["id"], pdf_file["id"]])

    # An hour later the link is dead (carriers fetch within minutes).
    assert stack.request("POST", "/_local/clock", {"advance_s": 3601}).status == 200
    expired = fetch(stack, url)
    assert (expired.status, expired.json()["code"]) == (404, "not_found")


def test_refusals_at_accept_time(stack: LocalStack, world: dict[str, Any]) -> None:
    dev, viewer, rid = world["keys"]["developer"], world["keys"]["viewer"], world["rid"]
    image = upload(stack, dev, png(b"refusals"), "image/png")
    audio = upload(stack, dev, b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64, "audio/mpeg")

    def refused(body: dict[str, Any], key: str = dev) -> tuple[int, str, str]:
        answer = call(stack, key, "POST", "/v1/messages", {"recipient_id": rid, **body})
        problem = answer.json()
        return answer.status, problem.get("code", ""), (problem.get("errors") or [{}])[0].get("pointer", "")

    assert refused({"channel": "voice", "body": "hi", "media": [image["id"]]}) == (422, "media_not_allowed", "/media")
    two = {"channel": "whatsapp", "body": "hi", "media": [image["id"], audio["id"]]}
    assert refused(two) == (422, "media_not_allowed", "/media")
    captioned_audio = {"channel": "whatsapp", "body": "listen", "media": [audio["id"]]}
    assert refused(captioned_audio) == (422, "media_not_allowed", "/body")
    unknown = {"channel": "sms", "media": [image["id"], "fil_" + "0" * 26]}
    assert refused(unknown) == (422, "media_not_found", "/media/1")
    # A viewer cannot send at all.
    assert refused({"channel": "sms", "media": [image["id"]]}, viewer)[0] == 403

    # Another account cannot use my file: the same answer as an unknown id.
    stranger = _signup(stack, "Stranger")["developer"]
    other = call(stack, stranger, "POST", "/v1/recipients", {"phone": PHONE}).json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert call(stack, stranger, "POST", f"/v1/recipients/{other}/consents", consent).status == 201
    theirs = call(
        stack, stranger, "POST", "/v1/messages", {"recipient_id": other, "channel": "sms", "media": [image["id"]]}
    )
    assert (theirs.status, theirs.json()["code"], theirs.json()["errors"]) == (
        422,
        "media_not_found",
        [{"pointer": "/media/0", "message": "No ready file with this id: upload it (and complete it) first."}],
    )


def test_a_file_deleted_before_sending_fails_the_message_cleanly(stack: LocalStack, world: dict[str, Any]) -> None:
    dev, rid = world["keys"]["developer"], world["rid"]
    image = upload(stack, dev, png(b"deleted later"), "image/png")
    now = datetime.fromisoformat(stack.request("POST", "/_local/clock", {"advance_s": 0}).json()["now"])
    send_at = (now + timedelta(minutes=20)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"recipient_id": rid, "channel": "sms", "media": [image["id"]], "send_at": send_at}
    sent = call(stack, dev, "POST", "/v1/messages", body)
    assert sent.status == 202, sent.text
    assert call(stack, dev, "DELETE", f"/v1/files/{image['id']}").status == 204
    assert stack.request("POST", "/_local/clock", {"advance_s": 21 * 60}).status == 200
    assert stack.request("POST", "/_local/jobs/release").status == 200
    log = wait_for(stack, dev, sent.json()["id"], "failed")
    assert log["error"]["code"] == "media_unavailable"
    assert not [d for d in stack.request("GET", "/_local/deliveries").json()["data"] if d["message_id"] == log["id"]]

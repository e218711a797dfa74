"""Call recordings through `make dev`'s stack: a recorded call's recording is fetched from the sandbox carrier, stored
sealed and deleted there; a viewer is refused, an owner reads it (audited); erasure leaves no object or item."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from local.provision import REGION
from tests.e2e.conftest import Answer, LocalStack
from tests.e2e.test_conversations import call, download, wait_for
from tests.e2e.test_messaging import PASSWORD

pytestmark = pytest.mark.e2e
PHONE = "+14155550188"


def _owner(stack: LocalStack) -> dict[str, str]:
    """A verified owner's session, and a developer's and a viewer's API keys."""
    email = f"rec-{secrets.token_hex(4)}@example.com"
    assert (
        stack.request("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": "Clinic"}).status
        == 202
    )
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    session = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    out = {"owner": session}
    for role in ("developer", "viewer"):
        created = call(stack, session, "POST", "/v1/api-keys", {"name": role, "role": role})
        assert created.status == 201, created.text
        out[role] = created.json()["key"]
    return out


def _recorded(stack: LocalStack, key: str, message_id: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    log: dict[str, Any] = {}
    while time.monotonic() < deadline:
        log = call(stack, key, "GET", f"/v1/messages/{message_id}").json()
        if log.get("recording_id"):
            return log
        time.sleep(0.1)
    pytest.fail(f"{message_id} never got its recording: {log}")


def _bucket_objects(stack: LocalStack, key: str, prefix: str) -> list[tuple[str, bytes]]:
    """Every object version under `prefix` in the local Files bucket, raw (moto's S3 API, found through the presigned
    upload URL the files API hands out), with its bytes; delete markers as empty bytes."""
    announced = call(stack, key, "POST", "/v1/files", {"content_type": "image/png", "size": 8}).json()
    url = urlsplit(announced["upload"]["url"])
    bucket = url.path.strip("/").split("/")[0]
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{url.scheme}://{url.netloc}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret - moto's dummy credential
    )
    listing = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    found = [
        (v["Key"], s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read())
        for v in listing.get("Versions", [])
    ]
    return found + [(m["Key"], b"") for m in listing.get("DeleteMarkers", [])]


def _read_by_owners_only(stack: LocalStack, keys: dict[str, str], recording_id: str, message_id: str) -> Answer:
    """Viewers and developers are refused; the owner reads the metadata and the audio, each read audited; the files
    API never serves a recording. The audio's answer."""
    owner, dev, viewer = keys["owner"], keys["developer"], keys["viewer"]
    # Viewers and developers are refused; the owner reads the metadata and the audio, each read audited.
    for key in (viewer, dev):
        assert call(stack, key, "GET", f"/v1/recordings/{recording_id}").status == 403
        assert call(stack, key, "GET", f"/v1/recordings/{recording_id}/content").status == 403
    meta = call(stack, owner, "GET", f"/v1/recordings/{recording_id}")
    assert meta.status == 200, meta.text
    assert meta.json()["message_id"] == message_id
    assert meta.json()["content_type"] == "audio/wav"
    audio = download(stack, owner, f"/v1/recordings/{recording_id}/content", accept="audio/wav")
    assert audio.status == 200
    assert audio.body[:4] == b"RIFF" and audio.body[8:12] == b"WAVE"
    assert hashlib.sha256(audio.body).hexdigest() == meta.json()["sha256"]
    assert audio.headers.get("Cache-Control", audio.headers.get("cache-control")) == "private, no-store"
    # curl's default Accept (`*/*`) names no binary type of the customer API: its answer is the bytes' base64.
    assert download(stack, owner, f"/v1/recordings/{recording_id}/content", accept="*/*").body == base64.b64encode(
        audio.body
    )
    events = call(stack, owner, "GET", "/v1/audit-events").json()["data"]
    reads = [e for e in events if e["type"] == "recording.accessed" and e["data"]["part"] != "list"]
    assert sorted(e["data"]["part"] for e in reads) == ["content", "content", "metadata"]  # every read, both Accepts
    assert all(e["target"]["recording_id"] == recording_id for e in reads)
    # The list: owners only, newest call first, and audited with the ids it showed.
    for key in (viewer, dev):
        assert call(stack, key, "GET", "/v1/recordings").status == 403
    listed = call(stack, owner, "GET", "/v1/recordings")
    assert listed.status == 200, listed.text
    assert listed.json() == {"data": [meta.json()], "next_cursor": None}
    events = call(stack, owner, "GET", "/v1/audit-events").json()["data"]
    lists = [e for e in events if e["type"] == "recording.accessed" and e["data"]["part"] == "list"]
    assert [(e["data"]["count"], e["data"]["recording_ids"]) for e in lists] == [(1, recording_id)]
    assert call(stack, owner, "GET", "/v1/recordings?cursor=not-ours").status == 400
    # The files API does not serve recordings (their reads would escape the audit and the role check).
    assert call(stack, owner, "GET", f"/v1/files/{recording_id}/content").status == 404
    assert all(f["id"] != recording_id for f in call(stack, owner, "GET", "/v1/files").json()["data"])

    return audio


def test_a_recorded_call_is_kept_sealed_deleted_at_the_carrier_read_by_owners_only_and_erased(
    stack: LocalStack,
) -> None:
    keys = _owner(stack)
    owner, dev, viewer = keys["owner"], keys["developer"], keys["viewer"]
    rid = call(stack, dev, "POST", "/v1/recipients", {"phone": PHONE, "name": "Grace"}).json()["id"]
    consent = {"channel": "voice", "status": "opted_in", "source": "web_form"}
    assert call(stack, dev, "POST", f"/v1/recipients/{rid}/consents", consent).status == 201

    # `record` is for calls only: nothing is queued otherwise.
    refused = call(
        stack, dev, "POST", "/v1/messages", {"recipient_id": rid, "channel": "sms", "body": "x", "record": True}
    )
    assert (refused.status, refused.json()["code"]) == (422, "validation_failed"), refused.text

    sent = call(
        stack,
        dev,
        "POST",
        "/v1/messages",
        {"recipient_id": rid, "channel": "voice", "body": "Your results are in.", "record": True},
    )
    assert sent.status == 202, sent.text
    message = sent.json()
    assert message["record"] is True
    log = _recorded(stack, dev, message["id"])
    wait_for(stack, dev, message["id"], "delivered")
    log = call(stack, dev, "GET", f"/v1/messages/{message['id']}").json()
    assert log["call"] == {"duration_s": 3, "billed_s": None, "answered_by": "human", "price": None, "currency": None}
    recording_id = log["recording_id"]

    # The carrier's copy was deleted once ours was stored.
    carrier_side = stack.request("GET", "/_local/recordings").json()
    assert carrier_side["kept"] == []
    assert len(carrier_side["deleted"]) >= 1

    audio = _read_by_owners_only(stack, keys, recording_id, message["id"])

    # Another account finds nothing.
    stranger = _owner(stack)["owner"]
    assert call(stack, stranger, "GET", f"/v1/recordings/{recording_id}").status == 404

    # The bucket holds the audio sealed only: no plaintext WAV (nor any 64-byte run of it) in any version.
    [(object_key, sealed)] = [o for o in _bucket_objects(stack, dev, "files/") if o[0].endswith(recording_id)]
    assert b"RIFF" not in sealed and b"WAVE" not in sealed
    assert all(audio.body[i : i + 64] not in sealed for i in range(44, len(audio.body) - 64, 997))

    # The owner turns recording on for the account (audited): a call that does not say is recorded, one may refuse.
    assert call(stack, viewer, "PATCH", "/v1/account", {"record_calls": True}).status == 403
    patched = call(stack, owner, "PATCH", "/v1/account", {"record_calls": True})
    assert (patched.status, patched.json()["record_calls"]) == (200, True), patched.text
    [changed] = [
        e
        for e in call(stack, owner, "GET", "/v1/audit-events").json()["data"]
        if e["type"] == "account.settings_changed"
    ]
    assert (changed["data"]["record_calls"], changed["data"]["previous_record_calls"]) == (True, False)
    voice = {"recipient_id": rid, "channel": "voice", "body": "Reminder"}
    assert call(stack, dev, "POST", "/v1/messages", voice).json()["record"] is True
    assert call(stack, dev, "POST", "/v1/messages", {**voice, "record": False}).json()["record"] is False

    # Erasing the person removes the recording: every object version and the item.
    assert call(stack, dev, "DELETE", f"/v1/recipients/{rid}").status == 204
    assert call(stack, owner, "GET", f"/v1/recordings/{recording_id}").status == 404
    assert [o for o in _bucket_objects(stack, dev, "files/") if o[0] == object_key] == []

"""Files under moto: uploaded (bytes or presigned), refused when the bytes lie or are too large, fetched back
byte-identical (ranges too), isolated per account, deleted with every version; no plaintext in S3 or the table."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from switchboard import files as rules
from switchboard.crypto import envelope
from switchboard.dal import files as store
from switchboard.models import plans
from tests.integration.files_support import call, pdf, png, raw_objects, versions
from tests.integration.messaging.conftest import make_account

MARKER = b"TOP-SECRET-PLAINTEXT-7f3a"


@pytest.fixture
def account(aws: dict[str, str]) -> Iterator[str]:
    yield make_account().account_id


@pytest.fixture
def other(aws: dict[str, str]) -> str:
    return make_account().account_id


def _upload(account: str, data: bytes, content_type: str = "image/png", **kwargs: Any) -> dict[str, Any]:
    answer = call(account, "POST", "/v1/files", data=data, content_type=content_type, **kwargs)
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


def _presigned(account: str, data: bytes, content_type: str, **extra: Any) -> dict[str, Any]:
    announced = call(account, "POST", "/v1/files", json_body={"content_type": content_type, "size": len(data), **extra})
    assert announced.status == 201, announced.body
    upload = announced.body["upload"]
    put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=10)
    assert put.status_code == 200
    body: dict[str, Any] = announced.body
    return body


def test_a_direct_upload_is_sniffed_sealed_and_read_back_byte_identical(account: str) -> None:
    data = png(MARKER)
    created = _upload(account, data, "application/octet-stream")
    assert created["status"] == "ready"
    assert created["content_type"] == "image/png"  # from the bytes, not the header
    assert created["size"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert str(created["id"]).startswith("fil_")

    meta = call(account, "GET", f"/v1/files/{created['id']}")
    assert meta.status == 200
    assert {k: meta.body[k] for k in ("id", "status", "content_type", "size", "sha256")} == {
        k: created[k] for k in ("id", "status", "content_type", "size", "sha256")
    }

    content = call(account, "GET", f"/v1/files/{created['id']}/content")
    assert content.status == 200
    assert content.raw == data
    assert content.headers["Content-Type"] == "image/png"
    assert content.headers["Content-Disposition"] == "attachment"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Cache-Control"] == "private, no-store"
    assert content.headers["Accept-Ranges"] == "bytes"
    # What S3 holds is the sealed object, not the file.
    (stored,) = raw_objects()
    assert MARKER not in stored
    assert stored.startswith(envelope.FILE_MAGIC)


def test_lying_bytes_are_refused_and_nothing_is_stored(account: str) -> None:
    lie = call(account, "POST", "/v1/files", data=pdf(), content_type="image/png")
    assert (lie.status, lie.body["code"]) == (422, "content_mismatch")
    script = call(account, "POST", "/v1/files", data=b"<script>alert(1)</script>", content_type="image/png")
    assert (script.status, script.body["code"]) == (415, "unsupported_media_type")
    unknown = call(
        account, "POST", "/v1/files", data=b"MZ\x90\x00 an executable", content_type="application/octet-stream"
    )
    assert (unknown.status, unknown.body["code"]) == (415, "unsupported_media_type")
    html = call(account, "POST", "/v1/files", data=b"<html></html>", content_type="text/html")
    assert html.status == 415
    assert versions() == []
    assert call(account, "GET", "/v1/files").body["data"] == []
    assert store.usage(account) == 0


def test_too_large_is_refused_before_anything_is_stored(account: str) -> None:
    big = png(os.urandom(rules.DIRECT_MAX_BYTES))
    direct = call(account, "POST", "/v1/files", data=big, content_type="image/png")
    assert (direct.status, direct.body["code"]) == (413, "file_too_large")
    announced = call(
        account, "POST", "/v1/files", json_body={"content_type": "video/mp4", "size": rules.MAX_FILE_BYTES + 1}
    )
    assert (announced.status, announced.body["code"]) == (413, "file_too_large")
    # A channel's own limit: WhatsApp takes images of at most 5 MB.
    image = call(
        account,
        "POST",
        "/v1/files",
        json_body={"content_type": "image/png", "size": 6_000_000, "channel": "whatsapp"},
    )
    assert (image.status, image.body["code"]) == (413, "file_too_large")
    gif = call(
        account,
        "POST",
        "/v1/files",
        data=b"GIF89a" + b"\x00" * 40,
        content_type="image/gif",
        query={"channel": "whatsapp"},
    )
    assert (gif.status, gif.body["code"]) == (415, "unsupported_media_type")
    assert versions() == []


def test_a_presigned_upload_is_completed_and_read_back_by_ranges(account: str) -> None:
    # 6 MiB: more than one answer carries, over several sealed segments.
    data = png(os.urandom(6 * 1024 * 1024) + MARKER)
    announced = _presigned(account, data, "image/png", filename="Contrat signé.png")
    assert announced["status"] == "pending_upload"
    upload = announced["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(data))}
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in upload["url"]
    file_id = announced["id"]
    staged = versions("incoming/")
    assert len(staged) == 1

    done = call(account, "POST", f"/v1/files/{file_id}/complete")
    assert done.status == 200, done.body
    assert (done.body["status"], done.body["content_type"], done.body["size"]) == ("ready", "image/png", len(data))
    assert done.body["sha256"] == hashlib.sha256(data).hexdigest()
    assert done.body["filename"] == "Contrat signé.png"
    assert versions("incoming/") == []  # the staged bytes, every version of them, are gone
    assert call(account, "POST", f"/v1/files/{file_id}/complete").body == done.body  # a retry answers the same

    whole = call(account, "GET", f"/v1/files/{file_id}/content")
    assert (whole.status, whole.body["code"]) == (413, "range_required")
    for first, last in ((0, 99), (1024 * 1024 - 10, 1024 * 1024 + 10), (len(data) - 5, len(data) + 100), (5, 5)):
        part = call(account, "GET", f"/v1/files/{file_id}/content", headers={"Range": f"bytes={first}-{last}"})
        assert part.status == 206
        assert part.raw == data[first : last + 1]
        assert part.headers["Content-Range"] == f"bytes {first}-{min(last, len(data) - 1)}/{len(data)}"
    suffix = call(account, "GET", f"/v1/files/{file_id}/content", headers={"Range": "bytes=-7"})
    assert (suffix.status, suffix.raw) == (206, data[-7:])
    # A range larger than one answer is cut to 4 MiB; the client reads on from Content-Range.
    head = call(account, "GET", f"/v1/files/{file_id}/content", headers={"Range": "bytes=0-"})
    assert head.status == 206
    assert head.raw == data[: rules.RESPONSE_MAX_BYTES]
    assert head.headers["Content-Range"] == f"bytes 0-{rules.RESPONSE_MAX_BYTES - 1}/{len(data)}"
    rest = call(account, "GET", f"/v1/files/{file_id}/content", headers={"Range": f"bytes={rules.RESPONSE_MAX_BYTES}-"})
    assert head.raw + rest.raw == data
    past = call(account, "GET", f"/v1/files/{file_id}/content", headers={"Range": f"bytes={len(data)}-"})
    assert (past.status, past.body["code"], past.headers["Content-Range"]) == (
        416,
        "range_not_satisfiable",
        f"bytes */{len(data)}",
    )
    assert all(MARKER not in stored for stored in raw_objects())


def test_a_presigned_upload_that_lies_is_discarded_whole(account: str) -> None:
    announced = _presigned(account, pdf(), "image/png")
    lie = call(account, "POST", f"/v1/files/{announced['id']}/complete")
    assert (lie.status, lie.body["code"]) == (422, "content_mismatch")
    assert versions() == []
    assert call(account, "GET", f"/v1/files/{announced['id']}").status == 404
    # Fewer (or more) bytes than announced: S3 refuses another length deployed; here the check after it does.
    data = png(b"x" * 100)
    short = call(account, "POST", "/v1/files", json_body={"content_type": "image/png", "size": len(data) + 1})
    requests.put(short.body["upload"]["url"], data=data, headers={"Content-Type": "image/png"}, timeout=10)
    mismatch = call(account, "POST", f"/v1/files/{short.body['id']}/complete")
    assert (mismatch.status, mismatch.body["code"]) == (422, "content_mismatch")
    assert versions() == []
    assert store.usage(account) == 0


def test_complete_before_the_put_is_a_conflict_and_pending_files_cannot_be_read(account: str) -> None:
    announced = call(account, "POST", "/v1/files", json_body={"content_type": "application/pdf", "size": 100})
    file_id = announced.body["id"]
    early = call(account, "POST", f"/v1/files/{file_id}/complete")
    assert (early.status, early.body["code"]) == (409, "upload_missing")
    unread = call(account, "GET", f"/v1/files/{file_id}/content")
    assert (unread.status, unread.body["code"]) == (409, "file_not_ready")
    listed = call(account, "GET", "/v1/files").body["data"]
    assert [(f["id"], f["status"]) for f in listed] == [(file_id, "pending_upload")]


def test_the_plans_storage_limit_refuses_an_upload_that_would_pass_it(account: str) -> None:
    limit = plans.storage_bytes("free")
    data = png(b"y" * 1000)
    assert store.reserve(account, limit - len(data) + 1, limit=limit)  # the account's files fill all but a little
    refused = call(account, "POST", "/v1/files", data=data, content_type="image/png")
    assert (refused.status, refused.body["code"]) == (413, "storage_limit_exceeded")
    assert versions() == []
    roomier = call(account, "POST", "/v1/files", data=data, content_type="image/png", plan="pro")
    assert roomier.status == 201
    assert store.usage(account) == limit + 1
    assert call(account, "DELETE", f"/v1/files/{roomier.body['id']}").status == 204
    assert store.usage(account) == limit - len(data) + 1


def test_another_accounts_file_is_not_found_on_every_route(account: str, other: str) -> None:
    mine = _upload(account, png(MARKER))
    pending = call(account, "POST", "/v1/files", json_body={"content_type": "image/png", "size": 10}).body
    for file_id in (mine["id"], pending["id"]):
        for method, path in (
            ("GET", f"/v1/files/{file_id}"),
            ("GET", f"/v1/files/{file_id}/content"),
            ("POST", f"/v1/files/{file_id}/complete"),
            ("DELETE", f"/v1/files/{file_id}"),
        ):
            answer = call(other, method, path)
            assert (answer.status, answer.body["code"]) == (404, "not_found"), (method, path)
    assert call(other, "GET", "/v1/files").body["data"] == []
    assert call(account, "GET", f"/v1/files/{mine['id']}/content").raw == png(MARKER)


def test_delete_removes_every_version_and_the_item(account: str) -> None:
    created = _upload(account, png(MARKER))
    key = store.object_key(account, str(created["id"]))
    # An older version of the object (as a concurrent completion would leave) goes too.
    boto3.client("s3").put_object(Bucket=store.bucket_name(), Key=key, Body=b"older version")
    assert len(versions(key)) == 2
    assert call(account, "DELETE", f"/v1/files/{created['id']}").status == 204
    assert versions() == []
    assert call(account, "GET", f"/v1/files/{created['id']}").status == 404
    assert store.usage(account) == 0


def test_viewers_see_metadata_but_neither_names_nor_bytes(account: str) -> None:
    created = _presigned(account, pdf(), "application/pdf", filename="payslip-ada.pdf")
    call(account, "POST", f"/v1/files/{created['id']}/complete")
    viewer = call(account, "GET", f"/v1/files/{created['id']}", role="viewer")
    assert viewer.status == 200
    assert "filename" not in viewer.body
    assert call(account, "GET", f"/v1/files/{created['id']}", role="agent").body["filename"] == "payslip-ada.pdf"
    refused = call(account, "GET", f"/v1/files/{created['id']}/content", role="viewer")
    assert (refused.status, refused.body["code"]) == (403, "forbidden")
    assert call(account, "POST", "/v1/files", data=pdf(), content_type="application/pdf", role="viewer").status == 403


def test_a_shredded_accounts_file_is_gone_not_an_error(account: str) -> None:
    created = _upload(account, png(MARKER))
    envelope.shred(account)
    envelope.forget_cached_keys()
    gone = call(account, "GET", f"/v1/files/{created['id']}/content")
    assert (gone.status, gone.body["code"]) == (410, "file_gone")


def test_a_raw_scan_finds_no_plaintext_in_the_bucket_or_the_table(account: str, aws: dict[str, str]) -> None:
    _upload(account, png(MARKER))
    announced = _presigned(account, pdf(MARKER.decode()), "application/pdf", filename="secret-name-4411.pdf")
    call(account, "POST", f"/v1/files/{announced['id']}/complete")
    stored = raw_objects()
    assert len(stored) == 2
    assert all(MARKER not in body and b"secret-name-4411" not in body for body in stored)
    client = boto3.client("dynamodb")
    items = [
        str(item)
        for page in client.get_paginator("scan").paginate(TableName=aws["MESSAGING_TABLE"])
        for item in page["Items"]
    ]
    assert any("FILE#" in item for item in items)
    assert not any(MARKER.decode() in item or "secret-name-4411" in item for item in items)


def test_the_list_is_paged_newest_first(account: str) -> None:
    ids = [_upload(account, png(bytes([n]) * 10))["id"] for n in range(3)]
    first = call(account, "GET", "/v1/files", query={"limit": "2"})
    assert [f["id"] for f in first.body["data"]] == ids[::-1][:2]
    second = call(account, "GET", "/v1/files", query={"limit": "2", "cursor": first.body["next_cursor"]})
    assert [f["id"] for f in second.body["data"]] == ids[:1]
    forged = call(account, "GET", "/v1/files", query={"cursor": "bm90LWEtY3Vyc29y"})
    assert (forged.status, forged.body["code"]) == (400, "invalid_cursor")


def test_an_upload_with_an_idempotency_key_is_stored_once(account: str) -> None:
    data = png(b"once")
    first = call(account, "POST", "/v1/files", data=data, content_type="image/png", headers={"Idempotency-Key": "u-1"})
    again = call(account, "POST", "/v1/files", data=data, content_type="image/png", headers={"Idempotency-Key": "u-1"})
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.headers.get("Idempotency-Replay") == "true"
    assert len(versions()) == 1
    assert store.usage(account) == len(data)

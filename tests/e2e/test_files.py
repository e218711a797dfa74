"""Files through `make dev`'s stack over HTTP: a direct upload, a presigned PUT to moto's S3 and its completion, the
bytes read back whole and by ranges, lying bytes refused."""

from __future__ import annotations

import hashlib
import os
import secrets
import urllib.request

import pytest

from tests.e2e.conftest import LocalStack
from tests.integration.files_support import pdf, png

pytestmark = pytest.mark.e2e
PASSWORD = "lantern quasar velvet plumbing"  # pragma: allowlist secret - the e2e owner, local only


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> dict[str, str]:
    """A verified owner's session, as an Authorization header."""
    email = f"files-{secrets.token_hex(4)}@example.com"
    signup = {"email": email, "password": PASSWORD, "account_name": "Files Co"}
    assert stack.request("POST", "/v1/signup", signup).status == 202
    token = next(m["token"] for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == email)
    assert stack.request("POST", "/v1/email-verifications", {"token": token}).status == 200
    session = stack.request("POST", "/v1/sessions", {"email": email, "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {session}"}


def test_a_direct_upload_reads_back_byte_identical(stack: LocalStack, auth: dict[str, str]) -> None:
    data = png(b"e2e direct")
    created = stack.request("POST", "/v1/files", raw=data, headers={**auth, "Content-Type": "image/png"})
    assert created.status == 201, created.text
    file = created.json()
    assert (file["status"], file["content_type"], file["sha256"]) == (
        "ready",
        "image/png",
        hashlib.sha256(data).hexdigest(),
    )
    content = stack.request(
        "GET", f"/v1/files/{file['id']}/content", headers={**auth, "Accept": "application/octet-stream"}
    )
    assert content.status == 200
    assert content.body == data
    assert content.headers["Content-Type"] == "image/png"
    assert content.headers["Content-Disposition"] == "attachment"
    assert content.headers["Cache-Control"] == "private, no-store"
    assert content.headers["X-Content-Type-Options"] == "nosniff"


def test_lying_bytes_are_refused(stack: LocalStack, auth: dict[str, str]) -> None:
    lie = stack.request("POST", "/v1/files", raw=pdf(), headers={**auth, "Content-Type": "image/jpeg"})
    assert (lie.status, lie.json()["code"]) == (422, "content_mismatch")
    assert lie.headers["Content-Type"] == "application/problem+json"


def test_a_presigned_put_to_the_local_s3_then_complete_and_ranges(stack: LocalStack, auth: dict[str, str]) -> None:
    data = pdf("e2e presigned") + os.urandom(5 * 1024 * 1024)  # over one answer: read in ranges
    announced = stack.request(
        "POST", "/v1/files", {"content_type": "application/pdf", "size": len(data), "filename": "deck.pdf"}, auth
    )
    assert announced.status == 201, announced.text
    upload = announced.json()["upload"]
    assert upload["url"].startswith("http://127.0.0.1:")  # moto's S3, reachable from the developer's machine
    put = urllib.request.Request(upload["url"], data=data, method="PUT", headers=upload["headers"])
    with urllib.request.urlopen(put, timeout=30) as response:
        assert response.status == 200
    file_id = announced.json()["id"]
    done = stack.request("POST", f"/v1/files/{file_id}/complete", headers=auth)
    assert done.status == 200, done.text
    assert (done.json()["status"], done.json()["size"], done.json()["filename"]) == ("ready", len(data), "deck.pdf")

    whole = stack.request("GET", f"/v1/files/{file_id}/content", headers=auth)
    assert (whole.status, whole.json()["code"]) == (413, "range_required")
    read, offset = b"", 0
    while offset < len(data):
        wanted = {**auth, "Range": f"bytes={offset}-", "Accept": "application/pdf"}
        part = stack.request("GET", f"/v1/files/{file_id}/content", headers=wanted)
        assert part.status == 206
        assert part.headers["Content-Range"].startswith(f"bytes {offset}-")
        read += part.body
        offset += len(part.body)
    assert read == data
    listed = stack.request("GET", "/v1/files", headers=auth).json()["data"]
    assert file_id in [f["id"] for f in listed]
    assert stack.request("DELETE", f"/v1/files/{file_id}", headers=auth).status == 204
    assert stack.request("GET", f"/v1/files/{file_id}", headers=auth).status == 404

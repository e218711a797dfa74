"""Files under the account's governance: the export lists them as links, the purge leaves no object version, delete
marker or item, and retention deletes files older than the account's setting."""

from __future__ import annotations

import boto3

from functions.purge_job import handler as purge_job
from switchboard import clock
from switchboard.dal import files as store
from switchboard.dal import retention as retention_dal
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.files_support import call as files_call
from tests.integration.files_support import pdf, png, raw_objects, versions
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import delete_account, of_account, populate

DAY = 24 * 3600
MARKER = b"PURGED-BYTES-5521"


def _upload(account_id: str, data: bytes, **kwargs: object) -> str:
    answer = files_call(account_id, "POST", "/v1/files", data=data, content_type="application/octet-stream", **kwargs)  # type: ignore[arg-type]
    assert answer.status == 201, answer.body
    file_id: str = answer.body["id"]
    return file_id


def test_the_export_lists_files_as_links_not_bytes(identity: dict[str, str]) -> None:
    world = populate("files@export.example")
    announced = files_call(
        world.account_id,
        "POST",
        "/v1/files",
        json_body={"content_type": "application/pdf", "size": len(pdf()), "filename": "invoice-77.pdf"},
    )
    boto3.client("s3").put_object(
        Bucket=store.bucket_name(), Key=store.staging_key(world.account_id, announced.body["id"]), Body=pdf()
    )
    assert files_call(world.account_id, "POST", f"/v1/files/{announced.body['id']}/complete").status == 200

    document = call("GET", "/v1/account/export", token=world.owner).body

    (entry,) = document["files"]
    assert entry["id"] == announced.body["id"]
    assert (entry["content_type"], entry["size"], entry["filename"]) == (
        "application/pdf",
        len(pdf()),
        "invoice-77.pdf",
    )
    assert entry["content"].endswith(f"/v1/files/{entry['id']}/content")
    assert "quarterly" not in str(document)  # the bytes are fetched from the link, never inlined


def test_the_purge_leaves_no_object_version_delete_marker_or_item(identity: dict[str, str]) -> None:
    doomed = populate("doomed@files.example")
    kept = populate("kept@files.example", account_name="Staying Ltd")
    for data in (png(MARKER), pdf(MARKER.decode())):
        _upload(doomed.account_id, data)
    kept_file = _upload(kept.account_id, png(b"kept"))
    # Also: an older version, a delete marker and a staged upload never completed.
    s3, bucket = boto3.client("s3"), store.bucket_name()
    first = store.object_key(doomed.account_id, _upload(doomed.account_id, png(b"v1")))
    s3.put_object(Bucket=bucket, Key=first, Body=b"second version")
    s3.delete_object(Bucket=bucket, Key=first)
    staged = files_call(doomed.account_id, "POST", "/v1/files", json_body={"content_type": "image/png", "size": 4})
    s3.put_object(Bucket=bucket, Key=store.staging_key(doomed.account_id, staged.body["id"]), Body=b"\x89PNG")
    prefixes = store.account_prefixes(doomed.account_id)
    assert sum(len(versions(p)) for p in prefixes) == 6
    assert delete_account(doomed.owner).status == 202

    clock.advance(GRACE_S + 1)
    report = purge_job.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    assert report["accounts"]["items_deleted"]["file_versions"] == 6
    assert [v["Key"] for p in prefixes for v in versions(p)] == []
    assert not [i for i in of_account(doomed.account_id)["Messaging"] if str(i["sk"]).startswith(("FILE", "FILES"))]
    assert all(MARKER not in body for body in raw_objects())
    # The other account's file is untouched and still reads back.
    assert files_call(kept.account_id, "GET", f"/v1/files/{kept_file}/content").raw == png(b"kept")


def test_retention_deletes_files_older_than_the_accounts_setting(identity: dict[str, str]) -> None:
    world = populate("retention@files.example")
    assert retention_dal.set_days(world.account_id, 30)
    old = _upload(world.account_id, png(b"old"))
    clock.advance(20 * DAY)
    recent = _upload(world.account_id, png(b"recent"))
    clock.advance(11 * DAY)

    report = purge_job.lambda_handler({}, Context())

    assert report["retention"]["files_deleted"] == 1
    assert files_call(world.account_id, "GET", f"/v1/files/{old}").status == 404
    assert versions(store.object_key(world.account_id, old)) == []
    assert files_call(world.account_id, "GET", f"/v1/files/{recent}/content").raw == png(b"recent")
    assert store.usage(world.account_id) == len(png(b"recent"))
    again = purge_job.lambda_handler({}, Context())
    assert again["retention"]["files_deleted"] == 0

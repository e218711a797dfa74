"""Call recordings under the account's governance: in the export as links, removed by recipient erasure (the erasure
job finishing one too), by the purge and by retention (every object version and the item), and a recording whose
message went while the worker stored it is removed, never left behind."""

from __future__ import annotations

import json

import pytest

from functions.media_worker import handler as media_worker
from functions.purge_job import handler as purge_job
from local.workers import sqs_event
from switchboard import clock, ids
from switchboard.carriers import sandbox
from switchboard.dal import files as store
from switchboard.dal import messages as messages_dal
from switchboard.dal import messaging_table as table
from switchboard.dal import retention as retention_dal
from switchboard.dal.keys import account_pk
from switchboard.logic import files as files_logic
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.files_support import raw_objects, versions
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import delete_account, of_account, populate
from tests.integration.messaging.conftest import queues  # noqa: F401 - the fixture
from tests.security.erasure_world import fast_world, run_erasure_job
from tests.security.faults import Fault, in_function, injected

DAY = 24 * 3600
WAV = sandbox.tone_wav(seconds=0.3)
S3_INTERNAL = (500, "InternalError")


def _record(account_id: str, message_id: str, plan: str = "free") -> str:
    """What media_worker keeps of a recorded call (the carrier side: tests/integration/live/test_live_recordings.py)."""
    recording_id = store.recording_id(message_id)
    assert files_logic.store_bytes(account_id, recording_id, WAV, source="recording", plan=plan, message_id=message_id)
    return recording_id


def _gone(account_id: str, recording_id: str) -> bool:
    return store.get(account_id, recording_id) is None and versions(store.object_key(account_id, recording_id)) == []


def test_the_export_lists_recordings_as_links_and_never_as_files(identity: dict[str, str]) -> None:
    world = populate("rec@export.example")
    message_id = ids.new_id("msg")
    recording_id = _record(world.account_id, message_id)

    document = call("GET", "/v1/account/export", token=world.owner).body

    (entry,) = document["recordings"]
    assert (entry["id"], entry["message_id"], entry["content_type"], entry["size"]) == (
        recording_id,
        message_id,
        "audio/wav",
        len(WAV),
    )
    assert entry["content"].endswith(f"/v1/recordings/{recording_id}/content")
    assert all(f["id"] != recording_id for f in document["files"])


def test_erasure_removes_the_recordings_of_calls_to_the_person_and_the_job_finishes_a_stopped_one(
    queues: object,  # noqa: F811 - the fixture imported above
) -> None:
    world = fast_world()
    world.create_recipient(opt_in=("sms",))
    first, second = world.send(), world.send("again")
    recordings = [_record(world.account_id, m) for m in (first, second)]
    before = store.usage(world.account_id)
    assert before == 2 * len(WAV)

    # The erasure fails at its first object deletion (S3 in trouble): the erasure job finishes it.
    with injected(Fault("s3", S3_INTERNAL, operation="DeleteObjects", when=in_function("recipients_api"), times=1)):
        answer = world.erase()
    assert answer.status == 503, answer.body  # transient: the customer may retry, and the job finishes it anyway
    assert not all(_gone(world.account_id, r) for r in recordings)
    run_erasure_job()

    assert all(_gone(world.account_id, r) for r in recordings)
    assert store.usage(world.account_id) == 0
    assert all(WAV[100:164] not in body for body in raw_objects())


def test_a_recording_whose_message_went_meanwhile_is_removed_not_kept(
    queues: object,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = fast_world()
    world.create_recipient(opt_in=("sms",))
    message_id = world.send()
    recording_id = store.recording_id(message_id)
    real = files_logic.store_bytes

    def then_retention(*args: object, **kwargs: object) -> object:
        # Retention deletes the message while the worker stores its recording (another process, same moment).
        kept = real(*args, **kwargs)  # type: ignore[arg-type]
        table.delete(account_pk(world.account_id), messages_dal.message_sk(message_id))
        return kept

    monkeypatch.setattr(files_logic, "store_bytes", then_retention)
    table.update(
        account_pk(world.account_id),
        messages_dal.message_sk(message_id),
        expression="SET #record = :on",
        names={"#record": "record"},
        vals={":on": True},
    )
    job = {
        "kind": "recording",
        "account_id": world.account_id,
        "message_id": message_id,
        "carrier": "sandbox-a",
        "recording_ref": "sbxrec_test",
        "keep": True,
    }
    sandbox._store.recordings["sbxrec_test"] = WAV  # the carrier keeps it
    record = {"MessageId": "1", "ReceiptHandle": "h", "Body": json.dumps(job), "MD5OfBody": "", "Attributes": {}}
    result = media_worker.lambda_handler(sqs_event([record], "arn:aws:sqs:eu-west-1:1:cm"), Context())

    assert result["batchItemFailures"] == []
    assert _gone(world.account_id, recording_id)
    assert store.usage(world.account_id) == 0
    assert "sbxrec_test" in sandbox.deleted_recordings()


def test_the_purge_and_retention_remove_recordings(identity: dict[str, str]) -> None:
    doomed = populate("doomed@rec.example")
    kept = populate("kept@rec.example", account_name="Staying Ltd")
    doomed_rec = _record(doomed.account_id, ids.new_id("msg"))
    assert retention_dal.set_days(kept.account_id, 30)
    old = _record(kept.account_id, ids.new_id("msg"))
    assert delete_account(doomed.owner).status == 202

    clock.advance(GRACE_S + 31 * DAY)
    report = purge_job.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    assert _gone(doomed.account_id, doomed_rec)
    assert not [i for i in of_account(doomed.account_id)["Messaging"] if str(i["sk"]).startswith("FILE")]
    assert report["retention"]["files_deleted"] == 1
    assert _gone(kept.account_id, old)
    assert store.usage(kept.account_id) == 0

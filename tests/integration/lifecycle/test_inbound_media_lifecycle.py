"""Inbound media under the account's governance, like every file: in the export as links, removed with the person by
recipient erasure (every object version, the item, the bytes from the count; another person's stay), by the purge
and by retention."""

from __future__ import annotations

import secrets

from functions.purge_job import handler as purge_job
from switchboard import clock, ids
from switchboard.carriers import sandbox
from switchboard.dal import files as store
from switchboard.dal import retention as retention_dal
from switchboard.logic import files as files_logic
from switchboard.logic.closure import GRACE_S
from tests.integration.conftest import Context
from tests.integration.files_support import raw_objects, versions
from tests.integration.identity.gateway import call
from tests.integration.lifecycle.support import delete_account, of_account, populate
from tests.integration.messaging.conftest import (
    SIGNING_KEY,
    queues,  # noqa: F401 - the fixture
)
from tests.integration.messaging.test_messages import post_event
from tests.security.erasure_world import OTHER, World, fast_world, messaging_items

DAY = 24 * 3600
PNG = sandbox.png(6, 6, (9, 99, 199))


def _keep(account_id: str, inbound_id: str, index: int = 0, plan: str = "free") -> str:
    """What media_worker keeps of an inbound file (the fetch side: tests/integration/messaging/
    test_inbound_media_worker.py)."""
    file_id = store.inbound_media_id(inbound_id, index)
    assert files_logic.store_bytes(account_id, file_id, PNG, source="inbound", plan=plan, message_id=inbound_id)
    return file_id


def _gone(account_id: str, file_id: str) -> bool:
    return store.get(account_id, file_id) is None and versions(store.object_key(account_id, file_id)) == []


def _sends_a_picture(world: World, phone: str) -> str:
    """The person (or `phone`) sends a picture through the sandbox carrier; the stored inbound message's id."""
    before = {i["sk"] for i in messaging_items(world.account_id)}
    event = {
        "type": "message.inbound",
        "id": f"sbxevt_{secrets.token_hex(8)}",
        "carrier": "sandbox-a",
        "channel": "sms",
        "from": phone,
        "to": world.senders["sms"],
        "body": "a picture",
        "received_at": clock.rfc3339(clock.now()),
        "kind": "media",
        "media": [{"kind": "image", "id": f"sbxmed_{secrets.token_hex(13)}", "content_type": "image/png"}],
    }
    assert post_event("sandbox-a", event, key=SIGNING_KEY).status == 200
    [sk] = [i["sk"] for i in messaging_items(world.account_id) if i["sk"] not in before and i["sk"].startswith("INB#")]
    return str(sk).removeprefix("INB#")


def test_erasure_removes_the_files_the_person_sent_and_keeps_another_persons(
    queues: object,  # noqa: F811 - the fixture imported above
) -> None:
    world = fast_world()
    world.create_recipient(opt_in=("sms",))
    theirs = _keep(world.account_id, _sends_a_picture(world, world.phone))
    other = _keep(world.account_id, _sends_a_picture(world, OTHER))
    assert store.usage(world.account_id) == 2 * len(PNG)

    assert world.erase().status == 204

    assert _gone(world.account_id, theirs)
    assert not _gone(world.account_id, other)
    assert store.usage(world.account_id) == len(PNG)
    assert not any(theirs in str(item) for item in messaging_items(world.account_id))


def test_the_export_lists_inbound_media_as_links_to_the_files_route(identity: dict[str, str]) -> None:
    world = populate("inm@export.example")
    inbound_id = ids.new_id("inb")
    file_id = _keep(world.account_id, inbound_id)

    document = call("GET", "/v1/account/export", token=world.owner).body

    (entry,) = document["inbound_media"]
    assert (entry["id"], entry["message_id"], entry["content_type"], entry["size"]) == (
        file_id,
        inbound_id,
        "image/png",
        len(PNG),
    )
    assert entry["content"].endswith(f"/v1/files/{file_id}/content")
    assert all(f["id"] != file_id for f in document["files"] + document["recordings"])


def test_the_purge_and_retention_remove_inbound_media(identity: dict[str, str]) -> None:
    doomed = populate("doomed@inm.example")
    kept = populate("kept@inm.example", account_name="Staying Ltd")
    doomed_file = _keep(doomed.account_id, ids.new_id("inb"))
    assert retention_dal.set_days(kept.account_id, 30)
    old = _keep(kept.account_id, ids.new_id("inb"))
    assert delete_account(doomed.owner).status == 202

    clock.advance(GRACE_S + 31 * DAY)
    recent = _keep(kept.account_id, ids.new_id("inb"))
    report = purge_job.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    assert _gone(doomed.account_id, doomed_file)
    assert not [i for i in of_account(doomed.account_id)["Messaging"] if str(i["sk"]).startswith("FILE")]
    assert report["retention"]["files_deleted"] == 1
    assert _gone(kept.account_id, old)
    assert not _gone(kept.account_id, recent)
    assert store.usage(kept.account_id) == len(PNG)
    assert all(PNG[:16] not in body for body in raw_objects())


def test_every_role_reads_an_inbound_files_metadata_content_roles_its_bytes_and_another_account_nothing(
    identity: dict[str, str],
) -> None:
    world = populate("roles@inm.example")
    file_id = _keep(world.account_id, ids.new_id("inb"))
    stranger = populate("stranger@inm.example", account_name="Other Ltd")
    for role in ("admin", "developer", "agent", "viewer"):
        key = call("POST", "/v1/api-keys", {"name": role, "role": role}, token=world.owner).body["key"]
        meta = call("GET", f"/v1/files/{file_id}", token=key)
        assert (meta.status, meta.body["source"], meta.body["size"]) == (200, "inbound", len(PNG)), role
        content = call("GET", f"/v1/files/{file_id}/content", token=key)
        assert content.status == (403 if role == "viewer" else 200), role
    assert call("GET", f"/v1/files/{file_id}/content", token=world.owner).status == 200
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content"):
        assert call("GET", path, token=stranger.owner).status == 404
    # The files list shows uploads only: inbound files are read from their message's media entries.
    assert all(f["id"] != file_id for f in call("GET", "/v1/files", token=world.owner).body["data"])

"""R60: each account's message retention (PATCH /v1/account, owners and admins), applied by the purge job: messages
and inbound messages older than it are hard-deleted with their attempts and carrier-id lookups, exactly once."""

from __future__ import annotations

from typing import Any

import boto3

from functions.purge_job import handler
from switchboard import clock, ids
from tests.integration.conftest import Context
from tests.integration.identity.gateway import add_member, call, login
from tests.integration.lifecycle.support import populate, scan, tables

DAY = 86400


def _put(item: dict[str, Any]) -> None:
    boto3.resource("dynamodb").Table(tables()["Messaging"]).put_item(Item=item)


def _message(account_id: str, *, held: bool = False) -> str:
    """A message made now (its id carries the time), with one accepted attempt and its global carrier-id lookup."""
    message_id = ids.new_id("msg")
    pk = f"ACCT#{account_id}"
    item = {"pk": pk, "sk": f"MSG#{message_id}", "message_id": message_id, "status": "delivered"}
    if held:
        item.update(status="queued", gsi2pk="HELD", gsi2sk=f"{10**11:012d}#{account_id}#{message_id}")
    _put(item)
    carrier_id = f"sbx_{message_id}"
    _put({"pk": pk, "sk": f"ATT#{message_id}#sandbox-a", "carrier": "sandbox-a", "carrier_message_id": carrier_id})
    _put({"pk": f"CMSG#sandbox-a#{carrier_id}", "sk": "CMSG", "account_id": account_id, "message_id": message_id})
    return message_id


def _inbound(account_id: str) -> str:
    inbound_id = ids.new_id("inb")
    _put({"pk": f"ACCT#{account_id}", "sk": f"INB#{inbound_id}", "inbound_id": inbound_id})
    return inbound_id


def _messaging_keys() -> set[tuple[str, str]]:
    return {(str(i["pk"]), str(i["sk"])) for i in scan("Messaging")}


def _set(token: str, days: Any) -> Any:
    return call("PATCH", "/v1/account", {"message_retention_days": days}, token=token)


def test_owners_and_admins_set_retention_within_1_to_395_days(identity: dict[str, str]) -> None:
    world = populate("settings@retention.example")
    assert call("GET", "/v1/account", token=world.owner).body["message_retention_days"] == 395

    changed = _set(world.admin, 30)

    assert changed.status == 200, changed.body
    assert changed.body["message_retention_days"] == 30
    assert call("GET", "/v1/account", token=world.owner).body["message_retention_days"] == 30
    assert _set(world.owner, 395).body["message_retention_days"] == 395
    events = call("GET", "/v1/audit-events", token=world.owner).body["data"]
    (latest, earlier) = [e for e in events if e["type"] == "account.settings_changed"][:2]
    assert latest["data"] == {"message_retention_days": 395, "previous_message_retention_days": 30}
    assert earlier["actor"] != latest["actor"]  # the admin, then the owner
    for bad in (0, 396, -1, "30", 30.5, True, None):
        refused = _set(world.owner, bad)
        assert (refused.status, refused.body["code"]) == (422, "validation_failed"), bad
    refused = call("PATCH", "/v1/account", {"message_retention_days": 30, "plan": "enterprise"}, token=world.owner)
    assert refused.status == 422  # unknown fields are refused, never ignored
    assert call("PATCH", "/v1/account", {}, token=world.owner).status == 422
    viewer = f"viewer.{world.email}"
    add_member(world.owner, viewer, "viewer")
    as_viewer = _set(login(viewer), 30)
    assert (as_viewer.status, as_viewer.body["code"]) == (403, "forbidden")
    by_key = _set(world.key, 30)
    assert (by_key.status, by_key.body["code"]) == (403, "session_required")
    assert call("GET", "/v1/account", token=world.owner).body["message_retention_days"] == 395
    clock.advance(6 * 60)  # R24: the change needs a login or re-authentication within 5 minutes
    stale = _set(world.owner, 30)
    assert (stale.status, stale.body["code"]) == (401, "reauth_required")


def test_the_purge_deletes_messages_past_retention_with_their_attempts_and_lookups_once(
    identity: dict[str, str],
) -> None:
    short = populate("short@retention.example")
    default = populate("default@retention.example", account_name="Keeps Everything")
    assert _set(short.owner, 30).status == 200
    old = _message(short.account_id)
    old_inbound = _inbound(short.account_id)
    old_held = _message(short.account_id, held=True)
    old_elsewhere = _message(default.account_id)
    clock.advance(20 * DAY)
    recent = _message(short.account_id)
    recent_inbound = _inbound(short.account_id)
    clock.advance(15 * DAY)  # `old` is 35 days old, `recent` 15
    before = _messaging_keys()

    report = handler.lambda_handler({}, Context())

    short_pk = f"ACCT#{short.account_id}"
    gone = before - _messaging_keys()
    assert gone == {
        (short_pk, f"MSG#{old}"),
        (short_pk, f"ATT#{old}#sandbox-a"),
        ("CMSG#sandbox-a#sbx_" + old, "CMSG"),
        (short_pk, f"INB#{old_inbound}"),
    }
    assert report["retention"]["messages_deleted"] == 2
    assert report["retention"]["items_deleted"] == 4
    assert report["retention"]["held_kept"] == 1
    left = _messaging_keys()
    for kept in (f"MSG#{recent}", f"INB#{recent_inbound}", f"MSG#{old_held}", "MSG#msg_1", "RCP#rcp_1"):
        assert (short_pk, kept) in left, kept
    assert (f"ACCT#{default.account_id}", f"MSG#{old_elsewhere}") in left  # 395 days by default

    second = handler.lambda_handler({}, Context())

    assert second["retention"]["messages_deleted"] == second["retention"]["items_deleted"] == 0
    assert _messaging_keys() == left

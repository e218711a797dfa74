"""Finding 5: erasing a recipient removes what the person wrote (inbound messages), not only what they were sent.

Every variant leaves the person's number and texts readable nowhere (API reads, the export, the raw table with every
sealed value opened) while the other person of the account keeps everything, and STOP stays honoured by a tombstone
that holds only the number's blind index. The account purge removes inbound messages too.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from functions.purge_job import handler as purge_job
from switchboard import clock
from tests.integration.conftest import Context
from tests.integration.identity.gateway import call
from tests.integration.identity.support import PASSWORD
from tests.security.erasure_world import OTHER, World, leftovers, messaging_items, new_world, tombstone


def _linked(world: World) -> None:
    """Recipient first: texts, a WhatsApp message (its 24-hour window record), HELP (answered to the number)."""
    world.create_recipient(opt_in=("sms", "whatsapp"))
    world.send()
    assert world.inbound(world.text("where is my parcel")).status == 200
    assert world.inbound(world.text("and on whatsapp"), channel="whatsapp").status == 200
    assert world.inbound("HELP").status == 200


def _before_recipient(world: World) -> None:
    """The person wrote before the account made them a recipient (the inbound message is unlinked)."""
    assert world.inbound(world.text("hi, who is this")).status == 200
    world.create_recipient()
    world.send()


def _after_opt_out(world: World) -> None:
    world.create_recipient()
    world.send()
    assert world.inbound("STOP").status == 200
    assert world.inbound(world.text("why do you still have my number")).status == 200


def _before_opt_out(world: World) -> None:
    world.create_recipient()
    world.send()
    assert world.inbound(world.text("please stop writing")).status == 200
    assert world.inbound("STOP").status == 200


def _list_and_broadcast(world: World) -> None:
    """A list member that got a broadcast and replied to it."""
    world.create_recipient()
    other = world.create_recipient(OTHER)
    list_id = world.api("POST", "/v1/lists", {"name": "vip"}).body["id"]
    added = world.api("POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [world.recipient_id, other]})
    assert added.status == 200, added.body
    # The same text goes to the other member too: it is theirs as well, so only the person's copy is scrubbed.
    sent = world.api("POST", "/v1/broadcasts", {"list_id": list_id, "channel": "sms", "body": "Sale today"})
    assert sent.status == 202, sent.body
    assert sent.body["accepted"] == 2
    assert world.inbound(world.text("reply to the sale")).status == 200
    world.list_id = list_id  # type: ignore[attr-defined]


VARIANTS: dict[str, tuple[Callable[[World], None], set[str]]] = {
    "linked": (_linked, set()),
    "before_recipient": (_before_recipient, set()),
    "after_opt_out": (_after_opt_out, {"sms"}),
    "before_opt_out": (_before_opt_out, {"sms"}),
    "list_and_broadcast": (_list_and_broadcast, set()),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_erasure_removes_inbound_messages_everywhere(identity: object, queues: object, variant: str) -> None:
    world = new_world(f"erase-{variant.replace('_', '-')}@p05.example")
    setup, opted_out = VARIANTS[variant]
    kept = f"the other person's words {variant}"
    assert world.inbound(kept, phone=OTHER).status == 200
    setup(world)
    before = json.dumps(world.export())
    assert all(text in before for text in world.texts)  # the traces exist: the test would see them stay
    assert world.phone in before

    assert world.erase().status == 204

    assert world.api("GET", f"/v1/recipients/{world.recipient_id}").status == 404
    assert world.recipient_id not in json.dumps(world.api("GET", "/v1/recipients").body)
    for message_id in world.message_ids:
        shown = world.api("GET", f"/v1/messages/{message_id}").body
        assert (shown["to"], shown["body"], shown["recipient_id"]) == (None, None, None)
    listed = json.dumps(world.api("GET", "/v1/messages", query={"limit": "100"}).body)
    assert world.phone not in listed
    if hasattr(world, "list_id"):
        members = world.api("GET", f"/v1/lists/{world.list_id}/recipients").body["data"]
        assert [m["phone"] for m in members] == [OTHER]
    after = json.dumps(world.export())
    assert world.phone not in after
    assert not [text for text in world.texts if text in after]
    assert kept in after and OTHER in after  # nothing of anyone else went
    if variant == "list_and_broadcast":
        assert "Sale today" in after
    assert leftovers(world) == []
    stone = tombstone(world)
    assert set(stone["channels"] if stone else []) == opted_out
    if stone:  # the tombstone keeps STOP honoured, and holds nothing else
        assert set(stone) <= {"pk", "sk", "channels", "updated_at"}
    # The number comes back as a new recipient: STOP still holds, and nothing of the erased person is linked to it.
    again = world.api("POST", "/v1/recipients", {"phone": world.phone})
    assert again.status == 201
    assert {c for c, s in again.body["consent"].items() if s == "opted_out"} == opted_out


@pytest.mark.parametrize("erased_first", [False, True], ids=["closed", "erased_then_closed"])
def test_account_purge_removes_inbound_messages(identity: object, queues: object, erased_first: bool) -> None:
    world = new_world(f"purge-{int(erased_first)}@p05.example")
    _before_opt_out(world)
    assert world.inbound(world.text("from the other person"), phone=OTHER).status == 200
    if erased_first:
        assert world.erase().status == 204
    assert any(i["sk"].startswith("INB#") for i in messaging_items(world.account_id))
    closed = call("DELETE", "/v1/account", {"password": PASSWORD}, token=world.owner)
    assert closed.status == 202, closed.body
    clock.advance(31 * 86400)

    report = purge_job.lambda_handler({}, Context())

    assert report["accounts"]["purged"] == 1
    remaining = [i for i in messaging_items(world.account_id) if i["pk"] == f"ACCT#{world.account_id}"]
    # Only an erased person's STOP outlives the account, by blind index of a shredded key (it identifies nobody).
    assert [i["sk"].split("#")[0] for i in remaining] == (["OPTOUT"] if erased_first else [])
    assert not [i for i in messaging_items(world.account_id) if i.get("gsi3pk")]

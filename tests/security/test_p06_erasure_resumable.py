"""Finding 6: an erasure stopped at any step (a fault, a deadline) is finished by a retry or by the erasure job,
leaves no personal data, may be repeated, and races an inbound message from the same number safely.

Faults are injected at the botocore client layer (tests/security/faults.py): the K-th DynamoDB write of the
erasure fails as DynamoDB fails (InternalServerError), for every K until an erasure needs no more writes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from switchboard.dal import recipients as recipients_dal
from switchboard.logic import recipients as recipients_logic
from tests.integration.conftest import Context
from tests.integration.moto_atomic import serialized_moto
from tests.security.erasure_world import (
    OTHER,
    World,
    fast_world,
    leftovers,
    messaging_items,
    run_erasure_job,
    tombstone,
)
from tests.security.faults import DYNAMODB_INTERNAL, Fault, injected

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _traced(world: World) -> None:
    """The person: recipient with consent evidence, in a list, two messages, texts on two channels, then STOP."""
    world.create_recipient(opt_in=("sms", "whatsapp"))
    world.create_recipient(OTHER)
    list_id = world.api("POST", "/v1/lists", {"name": "vip"}).body["id"]
    assert world.api("POST", f"/v1/lists/{list_id}/recipients", {"recipient_ids": [world.recipient_id]}).status == 200
    world.send()
    world.send("again")
    assert world.inbound(world.text("who is this")).status == 200
    assert world.inbound(world.text("on whatsapp"), channel="whatsapp").status == 200
    assert world.inbound("STOP").status == 200
    assert world.inbound(world.text("the other one"), phone=OTHER).status == 200
    world.texts.pop()  # the other person's words stay


def _erased_cleanly(world: World) -> None:
    assert world.api("GET", f"/v1/recipients/{world.recipient_id}").status == 404
    assert leftovers(world) == []
    assert recipients_dal.get_any(world.account_id, world.recipient_id) is None  # the marker went last
    stone = tombstone(world)
    assert stone is not None and stone["channels"] == ["sms"]  # STOP still holds
    other = world.api("GET", "/v1/recipients").body["data"]
    assert [r["phone"] for r in other] == [OTHER]


class _NthWrite:
    """Fails the erasure's K-th DynamoDB write (0-based), once."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = 0

    def __call__(self, function: str, params: dict[str, Any]) -> bool:
        if function != "recipients_api":
            return False
        self.seen += 1
        return self.seen == self.k + 1


@pytest.mark.parametrize("resume_by", ["retry", "job"])
def test_erasure_interrupted_at_every_write_is_finished(queues: object, resume_by: str) -> None:
    k = 0
    while True:
        world = fast_world()
        _traced(world)
        nth = _NthWrite(k)
        with injected(*(Fault("dynamodb", DYNAMODB_INTERNAL, operation=op, when=nth) for op in WRITES)) as faults:
            answer = world.erase()
        if not any(f.hits for f in faults):
            assert answer.status == 204  # K is past the erasure's last write: it finished at once
            _erased_cleanly(world)
            break
        assert answer.status == 503, (k, answer.status, answer.body)  # transient: retry, never a 500
        assert answer.headers.get("Retry-After")
        marked = recipients_dal.get_any(world.account_id, world.recipient_id)
        if marked is not None and marked.erasing:
            # Once it is marked, it is gone for every read, and its own personal fields are gone already.
            assert world.api("GET", f"/v1/recipients/{world.recipient_id}").status == 404
            assert set(marked.sealed().values()) == {None} and not marked.country
        if resume_by == "job":
            report = run_erasure_job()
            if marked is None or not marked.erasing:
                assert report["finished"] == 0  # nothing was begun: the customer's retry begins it
                assert world.erase().status == 204
            else:
                assert report["finished"] == 1
        else:
            assert world.erase().status == 204
        _erased_cleanly(world)
        assert world.erase().status == 404  # done: repeating it finds nothing, changes nothing
        k += 1
    assert k >= 8  # tombstone, mark, ledger, memberships, windows, 2 messages, 2 inbound, HELP-free marker: all hit


class _Deadline:
    """A Lambda context whose remaining time runs out after `calls` checks (the function nears its timeout)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def tick(self) -> int:
        self.calls -= 1
        return 10_000 if self.calls >= 0 else 1_000


@pytest.mark.parametrize("checks", [0, 1, 3, 5])
def test_erasure_past_its_deadline_is_unreadable_at_once_and_the_job_finishes(
    queues: object, monkeypatch: pytest.MonkeyPatch, checks: int
) -> None:
    world = fast_world()
    _traced(world)
    with monkeypatch.context() as patch:
        deadline = _Deadline(checks)
        patch.setattr(Context, "get_remaining_time_in_millis", lambda _: deadline.tick())
        answer = world.erase()
    assert answer.status == 204  # gone from every read already; the job scrubs the rest
    assert world.api("GET", f"/v1/recipients/{world.recipient_id}").status == 404
    assert world.recipient_id not in str(world.api("GET", "/v1/recipients").body)
    marker = recipients_dal.get_any(world.account_id, world.recipient_id)
    assert marker is not None and marker.erasing
    for message_id in world.message_ids:  # unscrubbed yet, and already unreadable
        shown = world.api("GET", f"/v1/messages/{message_id}").body
        assert (shown["to"], shown["body"]) == (None, None)
    report = run_erasure_job()
    assert (report["finished"], report["pending"]) == (1, 0)
    _erased_cleanly(world)
    assert run_erasure_job()["finished"] == 0


def test_erasing_twice_concurrently_is_one_erasure(queues: object) -> None:
    world = fast_world()
    _traced(world)
    answers: list[int] = []
    with serialized_moto():
        threads = [threading.Thread(target=lambda: answers.append(world.erase().status)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers)[0] == 204 and set(answers) <= {204, 404}
    _erased_cleanly(world)


@pytest.mark.parametrize("body", ["hello again", "STOP"])
@pytest.mark.parametrize("round_", range(2))
def test_erasure_racing_an_inbound_message_leaves_nothing_linked(queues: object, body: str, round_: int) -> None:
    world = fast_world()
    world.create_recipient()
    world.send()
    assert world.inbound(world.text("first words")).status == 200
    results: dict[str, int] = {}

    def erase() -> None:
        results["erase"] = world.erase().status

    def write() -> None:
        results["inbound"] = world.inbound(body).status

    order = [erase, write] if round_ % 2 == 0 else [write, erase]
    with serialized_moto():
        threads = [threading.Thread(target=t) for t in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results["erase"] == 204
    if results["inbound"] != 200:  # the carrier retries what was not acknowledged
        assert results["inbound"] < 500 or results["inbound"] == 503
        assert world.inbound(body).status == 200
    run_erasure_job()
    assert world.api("GET", f"/v1/recipients/{world.recipient_id}").status == 404
    # What the person wrote before the erasure is gone, and nothing stays linked to the erased recipient; a message
    # that arrived once the erasure began is either erased with it or kept unlinked (the person wrote again), and
    # one that arrived after it ended made the number a new recipient (issue 14: first contact).
    items = messaging_items(world.account_id)
    index = recipients_logic.phone_index(world.account_id, world.phone)
    newcomer = recipients_dal.find_by_phone(world.account_id, index)
    assert newcomer != world.recipient_id
    late = [i for i in items if str(i["sk"]).startswith("INB#")]
    assert len(late) <= 1 and all(i.get("recipient_id") in (None, newcomer) for i in late)
    # A late message kept unlinked keeps its own unlinked message.inbound event (linked ones go with the erasure).
    events = [i for i in items if str(i["sk"]).startswith("EVT#")]
    # An event that raced the erasure is emptied at once (dal.events.put): its id and type stay, nothing of the person.
    tombstones = [i for i in events if "sealed_event" not in i]
    assert all(set(i) <= {"pk", "sk", "event_id", "event_type", "created_at", "expires_at"} for i in tombstones)
    unlinked_events = [i for i in events if "sealed_event" in i and i.get("recipient_id") is None]
    assert len(unlinked_events) <= len([i for i in late if i.get("recipient_id") is None])
    theirs = tuple(i["sk"] for i in late + unlinked_events)
    if newcomer is not None:
        theirs += (f"RCP#{newcomer}", f"CONSENT#{newcomer}#", f"CONV#{newcomer}", "PHONE#", "LASTIN#")
        # The newcomer's own events (its message, its STOP) are logged for it; none of the erased one's outlive it.
        theirs += tuple(i["sk"] for i in items if str(i["sk"]).startswith("EVT#") and i.get("recipient_id") == newcomer)
    assert all(f.startswith(theirs) for f in leftovers(world)), leftovers(world)
    assert world.recipient_id not in str(items)
    if body == "STOP":  # STOP is honoured whichever came first
        stone = tombstone(world)
        again = recipients_dal.get(world.account_id, newcomer) if newcomer else None
        assert (stone is not None and "sms" in stone["channels"]) or (
            again is not None and again.consent.get("sms") == "opted_out"
        )

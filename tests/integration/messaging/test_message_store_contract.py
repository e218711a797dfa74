"""One contract, two implementations: the in-memory fakes behave as the real repositories do under moto.

Logic tests on the fakes (tests/unit/test_messaging_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import broadcasts as broadcasts_dal
from switchboard.dal import holds as holds_dal
from switchboard.dal import messages as messages_dal
from switchboard.dal import messaging_table
from switchboard.dal.keys import account_pk
from switchboard.dal.messages import Message
from switchboard.logic.repositories import BroadcastStore, DeliveryStore, MessageStore
from tests.fakes.messaging import InMemoryBroadcasts, InMemoryMessages

ACCOUNT = "acct_contract"


@pytest.fixture(params=["in_memory", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> tuple[DeliveryStore, BroadcastStore]:
    if request.param == "in_memory":
        return InMemoryMessages(), InMemoryBroadcasts()
    request.getfixturevalue("aws")
    envelope.create_key(ACCOUNT)
    return messages_dal, broadcasts_dal


@pytest.fixture
def repo(stores: tuple[DeliveryStore, BroadcastStore]) -> DeliveryStore:
    return stores[0]


def new(repo: MessageStore, message_id: str, *, status: str = "queued", held_until: int | None = None) -> Message:
    at = clock.rfc3339(clock.now())
    return repo.new_message(
        account_id=ACCOUNT,
        message_id=message_id,
        created_at=at,
        phone_index="idx",
        held_until=held_until,
        sealed={"to_sealed": "+14155552671", "body_sealed": "Hi"},
        channel="sms",
        status=status,
        from_number="+14155550000",
        events=[{"status": status, "at": at}],
        lease_until=0,
    )


def status(repo: MessageStore, message_id: str) -> str | None:
    message = repo.get(ACCOUNT, message_id)
    return None if message is None else message.status


def stored(repo: MessageStore, message_id: str) -> Message:
    message = repo.get(ACCOUNT, message_id)
    assert message is not None
    return message


def test_a_message_round_trips_with_its_sealed_fields(repo: MessageStore) -> None:
    repo.put(new(repo, "msg_1"))
    item = repo.get(ACCOUNT, "msg_1")
    assert item is not None
    assert (item.message_id, item.account_id, item.channel, item.status) == (
        "msg_1",
        ACCOUNT,
        "sms",
        "queued",
    )
    assert item.sealed["to_sealed"] != "+14155552671"
    assert repo.open_field(ACCOUNT, item, "to_sealed") == "+14155552671"
    assert repo.open_field(ACCOUNT, item, "body_sealed") == "Hi"
    assert repo.open_field(ACCOUNT, item, "template_sealed") is None
    assert repo.get(ACCOUNT, "msg_2") is None
    assert repo.get("acct_other", "msg_1") is None


def test_a_sealed_field_does_not_open_on_another_message(repo: MessageStore) -> None:
    repo.put(new(repo, "msg_1"))
    repo.put(new(repo, "msg_2"))
    one, two = stored(repo, "msg_1"), stored(repo, "msg_2")
    with pytest.raises(Exception):  # noqa: B017 - envelope's own error, or the fake's
        repo.open_field(ACCOUNT, replace(two, sealed={**two.sealed, "to_sealed": one.sealed["to_sealed"]}), "to_sealed")


def test_put_never_overwrites_a_message(repo: MessageStore) -> None:
    repo.put(new(repo, "msg_1"))
    repo.transition(ACCOUNT, "msg_1", "sending", at="2026-12-02T00:00:00Z")
    repo.put(new(repo, "msg_1"))
    assert status(repo, "msg_1") == "sending"


def test_status_never_moves_backwards(repo: MessageStore) -> None:
    repo.put(new(repo, "msg_1"))
    at = "2026-12-02T00:00:00Z"
    moved = repo.transition(ACCOUNT, "msg_1", "sent", at=at, also={"carrier": "sandbox-a"})
    assert moved is not None and (moved.status, moved.carrier) == ("sent", "sandbox-a")
    assert repo.transition(ACCOUNT, "msg_1", "sending", at=at) is None
    assert repo.transition(ACCOUNT, "msg_1", "sent", at=at) is None
    delivered = repo.transition(ACCOUNT, "msg_1", "delivered", at=at)
    assert delivered is not None
    assert [e.status for e in delivered.events] == ["queued", "sent", "delivered"]
    assert repo.transition(ACCOUNT, "msg_1", "undelivered", at=at) is None  # same rank: not a move
    failed = repo.transition(ACCOUNT, "msg_1", "failed", at=at, also={"error": {"code": "x"}})
    assert failed is not None and failed.error == {"code": "x"}
    assert repo.transition(ACCOUNT, "msg_1", "read", at=at) is None  # failed is final
    assert repo.transition(ACCOUNT, "msg_unknown", "sent", at=at) is None
    assert status(repo, "msg_1") == "failed"


def test_cancel_takes_only_a_queued_message_and_clears_the_outbox(repo: MessageStore) -> None:
    repo.put_held(new(repo, "msg_1"), int(clock.timestamp()) + 3600)
    assert repo.is_held(stored(repo, "msg_1"))
    canceled = repo.cancel(ACCOUNT, "msg_1", at="2026-12-02T00:00:00Z")
    assert canceled is not None and canceled.status == "canceled"
    assert not repo.is_held(canceled)
    assert not repo.is_held(stored(repo, "msg_1"))
    assert repo.cancel(ACCOUNT, "msg_1", at="2026-12-02T00:00:00Z") is None
    repo.put(new(repo, "msg_2", status="sending"))
    assert repo.cancel(ACCOUNT, "msg_2", at="2026-12-02T00:00:00Z") is None
    assert repo.cancel(ACCOUNT, "msg_3", at="2026-12-02T00:00:00Z") is None


def test_the_held_outbox(repo: MessageStore) -> None:
    due = int(clock.timestamp()) + 3 * 86400
    late = new(repo, "msg_1", held_until=due)
    assert repo.is_held(late)
    repo.put(late)
    assert repo.is_held(stored(repo, "msg_1"))
    repo.unhold(ACCOUNT, "msg_1")
    assert not repo.is_held(stored(repo, "msg_1"))
    repo.hold(ACCOUNT, "msg_1", due)
    assert repo.is_held(stored(repo, "msg_1"))
    repo.transition(ACCOUNT, "msg_1", "failed", at="2026-12-02T00:00:00Z")
    assert not repo.is_held(stored(repo, "msg_1"))  # past `sent`: nothing left to release
    image = new(repo, "msg_2", held_until=due)
    assert repo.is_held(image)
    assert not repo.is_held(repo.forget_hold(image))


def test_batched_writes_counts_and_rollback(repo: MessageStore) -> None:
    items = [new(repo, f"msg_{n}") for n in range(30)]
    assert repo.put_many(items) == 30
    ids = [i.message_id for i in items]
    assert repo.count_existing(ACCOUNT, [*ids, "msg_missing"]) == 30
    assert repo.delete_many(ACCOUNT, ids[:20]) == 20
    assert repo.count_existing(ACCOUNT, ids) == 10
    assert repo.get(ACCOUNT, "msg_0") is None and repo.get(ACCOUNT, "msg_29") is not None


def test_a_broadcast_record_round_trips(stores: tuple[MessageStore, BroadcastStore]) -> None:
    _, broadcasts = stores
    record = broadcasts_dal.Broadcast(
        broadcast_id="brd_1",
        list_id="lst_1",
        channel="whatsapp",
        accepted=7,
        skipped_no_consent=2,
        skipped_outside_window=1,
        created_at="2026-12-02T00:00:00Z",
    )
    broadcasts.put(ACCOUNT, record)
    assert broadcasts.get(ACCOUNT, "brd_1") == record
    assert broadcasts.get("acct_other", "brd_1") is None


def test_an_attempt_is_reserved_once_per_carrier_unless_it_failed(repo: DeliveryStore) -> None:
    at = "2026-12-02T00:00:00Z"
    assert repo.claim_attempt(ACCOUNT, "msg_1", "sandbox-a", at=at) is None
    blocking = repo.claim_attempt(ACCOUNT, "msg_1", "sandbox-a", at=at)
    assert blocking is not None and (blocking.carrier, blocking.outcome) == ("sandbox-a", "pending")
    repo.finish_attempt(ACCOUNT, "msg_1", "sandbox-a", "failed")
    assert repo.claim_attempt(ACCOUNT, "msg_1", "sandbox-a", at=at) is None  # refused at once: may be tried again
    repo.finish_attempt(ACCOUNT, "msg_1", "sandbox-a", "accepted", "cid_1")
    accepted = repo.claim_attempt(ACCOUNT, "msg_1", "sandbox-a", at=at)
    assert accepted is not None and (accepted.outcome, accepted.carrier_message_id) == ("accepted", "cid_1")
    assert repo.get_attempt(ACCOUNT, "msg_1", "sandbox-a") == accepted
    assert repo.get_attempt(ACCOUNT, "msg_1", "sandbox-b") is None
    assert repo.claim_attempt(ACCOUNT, "msg_1", "sandbox-b", at=at) is None  # another carrier: its own record


def test_the_carrier_id_mapping_and_early_receipts(repo: DeliveryStore) -> None:
    assert repo.find_by_carrier_id("sandbox-a", "cid_1") is None
    repo.map_carrier_id("sandbox-a", "cid_1", ACCOUNT, "msg_1")
    assert repo.find_by_carrier_id("sandbox-a", "cid_1") == (ACCOUNT, "msg_1")
    assert repo.find_by_carrier_id("sandbox-b", "cid_1") is None
    assert repo.early_receipts("sandbox-a", "cid_2") == []
    for event_id, status_ in (("evt_2", "delivered"), ("evt_1", "sent"), ("evt_2", "delivered")):
        repo.keep_early(
            "sandbox-a",
            "cid_2",
            event_id=event_id,
            status=status_,
            error_code="",
            at="2026-12-02T00:00:00Z",
            expires_at=9,
        )
    kept = repo.early_receipts("sandbox-a", "cid_2")
    assert [(r.status, r.error_code, r.expires_at) for r in kept] == [("sent", "", 9), ("delivered", "", 9)]


def test_the_lease_and_the_attempt_log(repo: DeliveryStore) -> None:
    repo.put(new(repo, "msg_1"))
    at, now = "2026-12-02T00:00:00Z", clock.timestamp()
    claimed = repo.claim(ACCOUNT, "msg_1", now=now, lease_s=30, at=at)
    assert claimed is not None and (claimed.status, claimed.lease_until) == ("sending", now + 30)
    assert repo.claim(ACCOUNT, "msg_1", now=now + 1, lease_s=30, at=at) is None  # its worker holds the lease
    taken = repo.claim(ACCOUNT, "msg_1", now=now + 31, lease_s=30, at=at)  # that worker vanished
    assert taken is not None and taken.lease_until == now + 61
    repo.release_lease(ACCOUNT, "msg_1")
    assert stored(repo, "msg_1").lease_until == 0
    attempts = [{"carrier": "sandbox-a", "outcome": "timeout", "at": at}]
    repo.record_attempts(ACCOUNT, "msg_1", attempts, carrier="sandbox-a")
    logged = stored(repo, "msg_1")
    assert (logged.carrier, [(a.carrier, a.outcome, a.at) for a in logged.attempts]) == (
        "sandbox-a",
        [("sandbox-a", "timeout", at)],
    )


def test_the_reconciliation_index(repo: DeliveryStore) -> None:
    at, due = "2026-12-02T00:00:00Z", int(clock.timestamp()) + 600
    shard = int(messages_dal.sent_partition("msg_1").rsplit("#", 1)[1])
    repo.put(new(repo, "msg_1", status="sending"))
    assert repo.index_sent(ACCOUNT, "msg_1", carrier_message_id="cid_1", sent_at_s=1, due=due) is False  # not sent
    sent = repo.transition(ACCOUNT, "msg_1", "sent", at=at, sent_due=due)
    assert sent is not None and repo.is_held(sent)

    def due_ids(until: int) -> list[str]:
        return [m.message_id for m in repo.due_sent(shard, until, limit=10, cursor=None)[0]]

    assert (due_ids(due - 1), due_ids(due)) == ([], ["msg_1"])
    assert repo.recheck_sent(ACCOUNT, "msg_1", due=due + 600)
    assert (due_ids(due), due_ids(due + 600)) == ([], ["msg_1"])
    assert repo.index_sent(ACCOUNT, "msg_1", carrier_message_id="cid_1", sent_at_s=7, due=due)
    assert (stored(repo, "msg_1").carrier_message_id, stored(repo, "msg_1").sent_at_s, due_ids(due)) == (
        "cid_1",
        7,
        ["msg_1"],
    )
    marked = repo.mark_receipt_missing(ACCOUNT, "msg_1", error={"code": "receipt_missing", "detail": "d"}, at=at)
    assert marked is not None
    assert (marked.status, marked.error, marked.receipt_missing_at) == (
        "sent",
        {"code": "receipt_missing", "detail": "d"},
        at,
    )
    assert due_ids(due + 600) == [] and not repo.is_held(marked)
    repo.transition(ACCOUNT, "msg_1", "delivered", at=at)
    assert repo.mark_receipt_missing(ACCOUNT, "msg_1", error={"code": "x", "detail": "d"}, at=at) is None
    assert not repo.recheck_sent(ACCOUNT, "msg_1", due=due)
    repo.put(new(repo, "msg_2", status="sending"))
    repo.transition(ACCOUNT, "msg_2", "sent", at=at, sent_due=due)
    repo.transition(ACCOUNT, "msg_2", "delivered", at=at)  # past `sent`: off the index
    assert not repo.is_held(stored(repo, "msg_2"))


# --- the real repository only: how items are stored -------------------------------------------------------------


def test_a_message_stores_every_time_as_epoch_seconds_and_reads_them_as_rfc3339(aws: dict[str, str]) -> None:
    envelope.create_key(ACCOUNT)
    messages_dal.put(new(messages_dal, "msg_1"))
    messages_dal.transition(ACCOUNT, "msg_1", "sending", at="2026-12-02T08:00:05Z")
    messages_dal.record_attempts(
        ACCOUNT, "msg_1", [{"carrier": "sandbox-a", "outcome": "accepted", "at": "2026-12-02T08:00:06Z"}]
    )
    raw = messaging_table.get(account_pk(ACCOUNT), messages_dal.message_sk("msg_1")) or {}
    assert isinstance(raw["created_at"], int)
    assert [e["at"] for e in raw["events"]][1:] == [1796198405]
    assert raw["attempts"][0]["at"] == 1796198406
    item = stored(messages_dal, "msg_1")
    assert item.created_at == clock.rfc3339_at(raw["created_at"])
    assert [e.at for e in item.events][1:] == ["2026-12-02T08:00:05Z"]
    assert item.attempts[0].at == "2026-12-02T08:00:06Z"


def test_a_message_stored_with_rfc3339_times_reads_the_same(aws: dict[str, str]) -> None:
    envelope.create_key(ACCOUNT)
    old = {
        **stored_keys("msg_old"),
        "message_id": "msg_old",
        "account_id": ACCOUNT,
        "status": "queued",
        "created_at": "2026-11-30T10:00:00Z",
        "events": [{"status": "queued", "at": "2026-11-30T10:00:00Z"}],
        "send_at": 1796032800,
    }
    messaging_table.put(old)
    moved = messages_dal.transition(ACCOUNT, "msg_old", "sending", at="2026-11-30T10:00:01Z")
    assert moved is not None
    assert moved.created_at == "2026-11-30T10:00:00Z"
    assert [e.at for e in moved.events] == ["2026-11-30T10:00:00Z", "2026-11-30T10:00:01Z"]
    assert moved.send_at == 1796032800


def test_the_release_index_reads_as_held_messages_and_resume_requests(aws: dict[str, str]) -> None:
    envelope.create_key(ACCOUNT)
    now = int(clock.timestamp())
    messages_dal.put(new(messages_dal, "msg_1", held_until=now + 60))
    messages_dal.put(new(messages_dal, "msg_2", held_until=now + 3 * 86400))  # not due yet
    holds_dal.mark_resume(ACCOUNT, now=now, token="rsm_1")
    assert messages_dal.due_held(now + 900) == [
        messages_dal.ResumeRequest(account_id=ACCOUNT, token="rsm_1"),
        messages_dal.HeldMessage(account_id=ACCOUNT, message_id="msg_1", due=now + 60),
    ]
    assert holds_dal.park_message(ACCOUNT, "msg_1", due=now + 60, now=now)
    holds_dal.park_webhook_job(ACCOUNT, "evt_1", "whe_1", '{"v":1}', at=now)
    parked = holds_dal.parked(ACCOUNT)
    assert sorted(parked, key=repr) == [
        messages_dal.HeldMessage(account_id=ACCOUNT, message_id="msg_1", due=now + 60),
        holds_dal.HeldWebhookJob(account_id=ACCOUNT, event_id="evt_1", target_id="whe_1", job='{"v":1}'),
    ]
    job = next(p for p in parked if isinstance(p, holds_dal.HeldWebhookJob))
    assert holds_dal.take_webhook_job(job)
    assert not holds_dal.take_webhook_job(job)  # gone: only one caller takes it
    assert holds_dal.take_resume(ACCOUNT, token="rsm_other") is False  # a newer request is not the one served
    assert holds_dal.take_resume(ACCOUNT, token="rsm_1")
    assert messages_dal.due_held(now + 900) == []  # msg_1 is parked, the request served


def stored_keys(message_id: str) -> dict[str, str]:
    return {"pk": account_pk(ACCOUNT), "sk": messages_dal.message_sk(message_id)}

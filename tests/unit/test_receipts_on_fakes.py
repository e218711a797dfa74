"""Carrier receipts and the receipts job on the in-memory repository: mapping, early receipts, never backwards,
reconciliation with a carrier's status API.

The same paths run end to end under moto in tests/security/test_p07_receipt_race.py; the fake's semantics are
proven against the real repository in tests/integration/messaging/test_message_store_contract.py.
"""

from __future__ import annotations

import pytest

from switchboard import clock, settings
from switchboard.carriers.base import CarrierError, CarrierEvent, CarrierStatus, Receipt
from switchboard.dal import messages as messages_dal
from switchboard.dal.messages import Message
from switchboard.logic import receipts, reconcile
from tests.fakes.messaging import InMemoryMessages

ACCOUNT = "acct_fake"
CARRIER = "sandbox-a"


class World:
    """One `sent` message (msg_0001, carrier id cid_1 at sandbox-a) and the status events published."""

    def __init__(self, *, mapped: bool = True) -> None:
        self.repo = InMemoryMessages()
        self.published: list[Message] = []
        at = clock.rfc3339(clock.now())
        self.repo.put(
            self.repo.new_message(
                account_id=ACCOUNT,
                message_id="msg_0001",
                created_at=at,
                phone_index="idx",
                held_until=None,
                sealed={"to_sealed": "+14155552671"},
                channel="sms",
                status="sending",
                from_number="+14155550000",
                events=[{"status": "queued", "at": at}, {"status": "sending", "at": at}],
            )
        )
        now = int(clock.timestamp())
        self.repo.transition(
            ACCOUNT,
            "msg_0001",
            "sent",
            at=at,
            also={"carrier": CARRIER, "carrier_message_id": "cid_1", "sent_at_s": now},
            sent_due=now + settings.get().receipt_check_after_s,
        )
        if mapped:
            self.repo.map_carrier_id(CARRIER, "cid_1", ACCOUNT, "msg_0001")

    def apply(self, status: str, *, event_id: str = "evt_1", error_code: str = "") -> str:
        event = CarrierEvent(
            kind="status",
            carrier=CARRIER,
            event_id=event_id,
            at=clock.rfc3339(clock.now()),
            carrier_message_id="cid_1",
            status=status,
            error_code=error_code,
        )
        return receipts.apply(event, messages=self.repo, publish=self.published.append)

    def message(self) -> Message:
        found = self.repo.get(ACCOUNT, "msg_0001")
        assert found is not None
        return found

    def check(self, source: Source | None) -> str:
        return reconcile.check(
            self.message(),
            messages=self.repo,
            sources=lambda carrier: source if carrier == CARRIER else None,
            publish=self.published.append,
        )


class Source:
    """A carrier status API that answers `answer` (or raises it)."""

    name = CARRIER

    def __init__(self, answer: CarrierStatus | Exception | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def status(self, carrier_message_id: str, channel: str) -> CarrierStatus | None:
        self.asked.append((carrier_message_id, channel))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# --- receipts -------------------------------------------------------------------------------------------------


def test_a_receipt_for_a_mapped_message_moves_it_once_and_never_backwards() -> None:
    world = World()

    assert world.apply("delivered") == "updated"
    assert world.apply("delivered", event_id="evt_2") == "stale"  # the same status again: not a move
    assert world.apply("sent", event_id="evt_3") == "stale"  # backwards
    assert world.apply("read", event_id="evt_4") == "updated"

    assert [m.status for m in world.published] == ["delivered", "read"]
    assert [e.status for e in world.message().events] == ["queued", "sending", "sent", "delivered", "read"]
    assert not world.repo.is_held(world.message())  # past `sent`: off the reconciliation index


def test_a_failure_receipt_carries_the_carriers_code() -> None:
    world = World()

    assert world.apply("undelivered", error_code="30003") == "updated"

    assert world.message().error == {"code": "30003", "detail": f"{CARRIER} reported undelivered"}
    assert world.published[-1].error == world.message().error


def test_a_receipt_before_the_mapping_is_kept_then_applied_in_lifecycle_order() -> None:
    world = World(mapped=False)

    assert world.apply("read", event_id="evt_b") == "early"
    assert world.apply("delivered", event_id="evt_a") == "early"
    assert world.message().status == "sent"  # nothing applied yet: the message is not known by that id
    kept = world.repo.early_receipts(CARRIER, "cid_1")
    ttl = settings.get().early_receipt_ttl_s
    assert {r.expires_at for r in kept} == {int(clock.timestamp()) + ttl}

    world.repo.map_carrier_id(CARRIER, "cid_1", ACCOUNT, "msg_0001")
    applied = receipts.apply_early(
        Receipt(carrier=CARRIER, carrier_message_id="cid_1"),
        (ACCOUNT, "msg_0001"),
        messages=world.repo,
        publish=world.published.append,
    )

    assert applied == 2
    assert [m.status for m in world.published] == ["delivered", "read"]  # read came first, applied last


def test_an_expired_early_receipt_is_not_applied() -> None:
    world = World(mapped=False)
    assert world.apply("delivered") == "early"
    clock.advance(settings.get().early_receipt_ttl_s + 1)
    world.repo.map_carrier_id(CARRIER, "cid_1", ACCOUNT, "msg_0001")

    receipt = Receipt(carrier=CARRIER, carrier_message_id="cid_1")
    assert receipts.apply_early(receipt, (ACCOUNT, "msg_0001"), messages=world.repo) == 0
    assert world.message().status == "sent"


def test_a_good_receipt_after_all_clears_the_receipt_missing_mark() -> None:
    world = World()
    assert world.check(None) == "receipt_missing"
    assert world.message().error is not None

    assert world.apply("delivered") == "updated"

    assert (world.message().status, world.message().error) == ("delivered", None)


# --- the receipts job -----------------------------------------------------------------------------------------


def test_a_carrier_without_a_status_api_leaves_the_message_sent_and_marked() -> None:
    world = World()

    assert world.check(None) == "receipt_missing"

    marked = world.message()
    assert (marked.status, (marked.error or {}).get("code")) == ("sent", reconcile.RECEIPT_MISSING)
    assert marked.receipt_missing_at is not None
    assert not world.repo.is_held(marked)  # off the index: never checked again
    assert world.published == []  # a mark is not a status change


def test_the_status_api_settles_a_message_whose_receipt_never_came() -> None:
    world = World()
    source = Source(CarrierStatus(status="delivered"))

    assert world.check(source) == "updated"

    assert source.asked == [("cid_1", "sms")]
    assert world.message().status == "delivered"
    assert [m.status for m in world.published] == ["delivered"]


def test_in_flight_is_checked_again_later_until_the_give_up_time() -> None:
    world = World()
    source = Source(CarrierStatus(status="sent"))
    rules = settings.get()

    before = int(clock.timestamp())
    assert world.check(source) == "in_flight"
    checked = range(before, int(clock.timestamp()) + 1)  # whichever second the wall clock showed during the check
    assert world.repo.sent[(ACCOUNT, "msg_0001")] in {t + rules.receipt_check_after_s for t in checked}

    clock.advance(rules.receipt_give_up_s)
    assert world.check(source) == "receipt_missing"
    assert world.message().status == "sent" and (ACCOUNT, "msg_0001") not in world.repo.sent


@pytest.mark.parametrize("answer", [CarrierError("down"), None], ids=["api_failed", "no_status"])
def test_a_failing_or_silent_status_api(answer: CarrierError | None) -> None:
    world = World()

    outcome = world.check(Source(answer))

    if answer is None:
        assert outcome == "receipt_missing"
    else:
        assert outcome == "retry"  # the API failed: still on the index for the next run
        assert (world.message().error, (ACCOUNT, "msg_0001") in world.repo.sent) == (None, True)


def test_the_job_takes_due_messages_from_every_shard_and_skips_settled_ones() -> None:
    repo = InMemoryMessages()
    at, due = clock.rfc3339(clock.now()), int(clock.timestamp())
    ids = [f"msg_{n:04d}" for n in range(40)]
    for message_id in ids:
        repo.put(
            repo.new_message(
                account_id=ACCOUNT,
                message_id=message_id,
                created_at=at,
                phone_index="idx",
                held_until=None,
                sealed={},
                channel="sms",
                status="sending",
            )
        )
        repo.transition(ACCOUNT, message_id, "sent", at=at, sent_due=due)
    repo.transition(ACCOUNT, ids[0], "delivered", at=at)
    repo.recheck_sent(ACCOUNT, ids[1], due=due + 3600)  # not due yet

    found = reconcile.due(due, messages=repo)

    assert sorted(m.message_id for m in found) == ids[2:]
    shards = {messages_dal.sent_partition(m.message_id) for m in found}
    assert len(shards) > 1

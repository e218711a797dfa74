"""Message and broadcast logic on in-memory repositories: the outbox, cancel, the status machine, broadcast rollback.

The same behaviours are proven end to end under moto in tests/integration/messaging (and the fakes' semantics
against the real repositories in test_message_store_contract.py); these run in milliseconds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from switchboard import clock
from switchboard.auth import Principal
from switchboard.dal.messages import Message
from switchboard.logic import broadcasts, sending
from switchboard.logic import messages as messages_logic
from switchboard.models.errors import NotFound
from switchboard.models.messages import Skipped
from tests.fakes.messaging import InMemoryBroadcasts, InMemoryMessages

ACCOUNT = "acct_fake"


def principal(role: str = "developer", account_id: str = ACCOUNT) -> Principal:
    return Principal(
        account_id=account_id,
        principal="key_fake",
        role=role,
        credential="api_key",
        session_id="",
        key_id="key_fake",
        plan="free",
        mode="live",
        auth_at=0,
    )


def message(repo: InMemoryMessages, n: int = 1, *, held_until: int | None = None, **fields: Any) -> Message:
    created_at = clock.rfc3339(clock.now())
    return repo.new_message(
        account_id=ACCOUNT,
        message_id=f"msg_{n:04d}",
        created_at=created_at,
        phone_index="idx",
        held_until=held_until,
        sealed={"to_sealed": "+14155552671", "body_sealed": "Hi"},
        **{
            "channel": "sms",
            "status": "queued",
            "from_number": "+14155550000",
            "country": "US",
            "recipient_id": "rcp_1",
            "mode": "live",
            "kind": "api",
            "attempts": [],
            "events": [{"status": "queued", "at": created_at}],
            "lease_until": 0,
            **fields,
        },
    )


def stored(repo: InMemoryMessages, n: int = 1) -> Message:
    found = repo.get(ACCOUNT, f"msg_{n:04d}")
    assert found is not None
    return found


# --- creation: the outbox ---------------------------------------------------------------------------------------


def test_a_new_message_is_stored_then_queued_and_leaves_the_outbox() -> None:
    repo, sent = InMemoryMessages(), []
    item = message(repo)

    messages_logic.store_and_enqueue(item, int(clock.timestamp()), messages=repo, send=sent.append)

    assert [s.message_id for s in sent] == ["msg_0001"]
    assert repo.held == {}  # unheld once on its queue
    assert not repo.is_held(item)
    kept = repo.get(ACCOUNT, "msg_0001")
    assert kept is not None and kept.status == "queued"
    assert repo.open_field(ACCOUNT, kept, "to_sealed") == "+14155552671"


def test_a_message_whose_queueing_fails_stays_held_for_the_release_job() -> None:
    repo = InMemoryMessages()
    item = message(repo)
    start = int(clock.timestamp())

    def refuse(_: Message) -> None:
        raise RuntimeError("SQS is down")

    messages_logic.store_and_enqueue(item, start, messages=repo, send=refuse)  # accepted: no error

    assert repo.held == {(ACCOUNT, "msg_0001"): start}
    assert repo.get(ACCOUNT, "msg_0001") is not None


def test_a_message_due_later_than_sqs_can_delay_is_stored_held_and_not_queued() -> None:
    repo, sent = InMemoryMessages(), []
    due = int(clock.timestamp()) + 3 * 86400
    item = message(repo, held_until=due)

    messages_logic.store_and_enqueue(item, due, messages=repo, send=sent.append)
    messages_logic.enqueue(stored(repo), messages=repo, send=sent.append)

    assert sent == []
    assert repo.held == {(ACCOUNT, "msg_0001"): due}


def test_sealed_fields_are_bound_to_their_message() -> None:
    repo = InMemoryMessages()
    one, other = message(repo, 1), message(repo, 2)
    moved = replace(other, sealed={**other.sealed, "to_sealed": one.sealed["to_sealed"]})
    with pytest.raises(Exception, match="to_sealed"):
        repo.open_field(ACCOUNT, moved, "to_sealed")


# --- cancel -----------------------------------------------------------------------------------------------------


def test_cancel_ends_a_queued_message_once_and_publishes_its_status() -> None:
    repo, published = InMemoryMessages(), []
    repo.put_held(message(repo), int(clock.timestamp()) + 3600)

    out = messages_logic.cancel(principal(), "msg_0001", messages=repo, publish=published.append)

    assert out.status == "canceled"
    assert out.to == "+14155552671" and out.body == "Hi"
    assert [p.status for p in published] == ["canceled"]
    assert repo.held == {}  # off the outbox: the release job never queues it
    with pytest.raises(messages_logic.NotCancelable) as again:
        messages_logic.cancel(principal(), "msg_0001", messages=repo, publish=published.append)
    assert (again.value.status, again.value.code) == (409, "message_not_cancelable")
    assert "canceled" in str(again.value)
    assert len(published) == 1


def test_cancel_refuses_a_message_a_worker_took() -> None:
    repo, published = InMemoryMessages(), []
    repo.put(message(repo))
    repo.transition(ACCOUNT, "msg_0001", "sending", at=clock.rfc3339(clock.now()))

    with pytest.raises(messages_logic.NotCancelable, match="sending"):
        messages_logic.cancel(principal(), "msg_0001", messages=repo, publish=published.append)
    assert published == []
    assert stored(repo).status == "sending"


@pytest.mark.parametrize(
    ("account_id", "message_id"), [("acct_other", "msg_0001"), (ACCOUNT, "msg_9999"), (ACCOUNT, "x")]
)
def test_cancel_of_another_accounts_or_an_unknown_message_is_404(account_id: str, message_id: str) -> None:
    repo = InMemoryMessages()
    repo.put(message(repo))
    with pytest.raises(NotFound):
        messages_logic.cancel(principal(account_id=account_id), message_id, messages=repo, publish=lambda _: None)
    assert stored(repo).status == "queued"


def test_a_viewer_sees_a_canceled_message_masked_and_without_content() -> None:
    repo = InMemoryMessages()
    repo.put(message(repo))
    out = messages_logic.cancel(principal("viewer"), "msg_0001", messages=repo, publish=lambda _: None)
    assert out.body is None
    assert out.to is not None and out.to != "+14155552671" and out.to.endswith("71")


# --- the status machine -----------------------------------------------------------------------------------------


def test_status_moves_forward_only_and_publishes_each_move_once() -> None:
    repo, published = InMemoryMessages(), []
    repo.put(message(repo))
    item = stored(repo)

    def move(new: str, **also: Any) -> Message | None:
        return sending.move(item, new, repository=repo, publish=published.append, **also)

    assert move("sending") is not None
    sent = move("sent", carrier="sandbox-a")
    assert sent is not None and sent.carrier == "sandbox-a"
    assert move("sending") is None  # never backwards
    assert move("delivered") is not None
    assert move("sent") is None
    assert move("delivered") is None  # nor sideways
    assert move("read") is not None
    assert move("failed", error={"code": "x", "detail": "y"}) is None  # read is final
    assert [p.status for p in published] == ["sending", "sent", "delivered", "read"]
    assert [e.status for e in stored(repo).events] == ["queued", "sending", "sent", "delivered", "read"]
    assert stored(repo).error is None


def test_a_failure_carries_its_error_and_takes_the_message_off_the_outbox() -> None:
    repo, published = InMemoryMessages(), []
    repo.put_held(message(repo), int(clock.timestamp()))
    item = stored(repo)

    failed = sending.move(
        item,
        "failed",
        error={"code": "consent_required", "detail": "opted out"},
        repository=repo,
        publish=published.append,
    )

    assert failed is not None and failed.error == {"code": "consent_required", "detail": "opted out"}
    assert repo.held == {}
    assert sending.move(item, "delivered", repository=repo, publish=published.append) is None
    assert len(published) == 1


def test_undelivered_may_still_be_read() -> None:
    repo = InMemoryMessages()
    repo.put(message(repo, status="sent"))
    item = stored(repo)
    assert sending.move(item, "undelivered", repository=repo, publish=lambda _: None) is not None
    assert sending.move(item, "delivered", repository=repo, publish=lambda _: None) is None
    assert sending.move(item, "read", repository=repo, publish=lambda _: None) is not None


# --- broadcasts ---------------------------------------------------------------------------------------------------


def _charge(count: int) -> messages_logic.Charge:
    return messages_logic.Charge(account_id=ACCOUNT, day="2026-12-02", count=count)


def test_a_broadcast_is_written_in_batches_of_25() -> None:
    repo, refunds = InMemoryMessages(), []
    items = [message(repo, n) for n in range(60)]

    broadcasts._store(items, _charge(60), messages=repo, refund=lambda *a: refunds.append(a))

    assert repo.put_many_calls == 3
    assert repo.count_existing(ACCOUNT, [i.message_id for i in items]) == 60
    assert refunds == []


def test_a_broadcast_whose_write_fails_is_rolled_back_and_refunded_in_full() -> None:
    repo, refunds = InMemoryMessages(), []
    repo.fail_put_many_after = 1  # the second chunk fails
    items = [message(repo, n) for n in range(60)]

    with pytest.raises(RuntimeError):
        broadcasts._store(items, _charge(60), messages=repo, refund=lambda *a: refunds.append(a))

    assert repo.items == {}  # the first chunk (and any part of the second) deleted
    assert refunds == [(_charge(60),)]


def test_a_broadcast_whose_rollback_fails_stays_charged_for_what_is_stored() -> None:
    repo, refunds = InMemoryMessages(), []
    repo.fail_put_many_after = 1
    repo.fail_delete_many = True
    items = [message(repo, n) for n in range(60)]

    with pytest.raises(RuntimeError):
        broadcasts._store(items, _charge(60), messages=repo, refund=lambda *a: refunds.append(a))

    assert len(repo.items) == 25  # the first chunk stays: accepted, in the log
    assert refunds == [(_charge(60), 35)]  # only what is not stored is given back


def test_a_broadcast_is_queued_and_recorded_with_its_counts() -> None:
    repo, records, queued = InMemoryMessages(), InMemoryBroadcasts(), []
    items = [message(repo, n) for n in range(3)]
    repo.put_many(items)

    out = broadcasts.dispatch(
        ACCOUNT,
        "brd_1",
        "lst_1",
        "sms",
        items=items,
        skipped=Skipped(no_consent=2, outside_window=1),
        messages=repo,
        broadcasts=records,
        send_batch=lambda channel, account, ids: queued.append((channel, account, ids)),
    )

    assert (out.id, out.accepted, out.skipped.no_consent, out.skipped.outside_window) == ("brd_1", 3, 2, 1)
    assert queued == [("sms", ACCOUNT, ["msg_0000", "msg_0001", "msg_0002"])]
    assert repo.held == {}
    record = records.get(ACCOUNT, "brd_1")
    assert record is not None
    assert (record.list_id, record.channel, record.accepted, record.skipped_no_consent) == ("lst_1", "sms", 3, 2)


def test_a_broadcast_whose_queueing_fails_is_left_held_to_the_release_job() -> None:
    repo, records = InMemoryMessages(), InMemoryBroadcasts()
    items = [message(repo, n) for n in range(3)]
    repo.put_many(items)

    def refuse(*_: Any) -> None:
        raise RuntimeError("SQS is down")

    out = broadcasts.dispatch(
        ACCOUNT,
        "brd_1",
        "lst_1",
        "sms",
        items=items,
        skipped=Skipped(no_consent=0, outside_window=0),
        messages=repo,
        broadcasts=records,
        send_batch=refuse,
    )

    assert out.accepted == 3
    assert set(repo.held) == {(ACCOUNT, f"msg_{n:04d}") for n in range(3)}
    assert records.get(ACCOUNT, "brd_1") is not None

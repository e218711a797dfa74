"""An operator's suspension holds an account's sends and webhooks; reinstatement sends each exactly once.

Driven through logic.incident (what the operator API calls) and the real workers and release job under moto,
counting what the sandbox carrier accepted and what the webhook listener received. Races: reinstatement during a
release run, a suspension during one, and two reinstatements at once.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from functions.recipients_api import handler as recipients_api
from switchboard import clock
from switchboard.carriers import sandbox
from switchboard.dal import accounts as accounts_dal
from switchboard.logic import incident
from switchboard.models.errors import Conflict
from switchboard.models.request import RequestMeta
from tests.integration.messaging.conftest import Account, Queues, opted_in
from tests.integration.messaging.test_messages import PHONE, inbound, send, work
from tests.integration.moto_atomic import serialized_moto
from tests.integration.webhooks.conftest import Listener, add_endpoint
from tests.security.test_p02_closure import _race, deliver_webhooks, held_items, release, status

META = RequestMeta(request_id="req-ops", source_ip="203.0.113.9", user_agent="switchboard-ops/test")
MINUTE = 60


@pytest.fixture(autouse=True)
def _sandbox_clean() -> Any:
    sandbox.reset()
    yield
    sandbox.reset()


@pytest.fixture
def owned(account: Account) -> Account:
    """The messaging account with an owner whose e-mail opens (an operator's actions e-mail the owners)."""
    owner = accounts_dal.get_user(account.account_id, "usr_owner")
    assert owner is not None
    accounts_dal.update_user(owner, email_sealed=accounts_dal.seal(owner, "email", "owner@held.example"))
    return account


def suspend(account: Account) -> Any:
    return incident.suspend(account.account_id, actor="operator:bob", reason="Abuse report OPS-7", meta=META)


def reinstate(account: Account) -> Any:
    return incident.reinstate(account.account_id, actor="operator:bob", reason=None, meta=META)


def settle(queues: Queues, rounds: int = 3) -> None:
    """Let the release job and the send worker run until nothing is left to do (and then some)."""
    for _ in range(rounds):
        release()
        work(queues)


def sent_once(message_ids: list[str]) -> None:
    counts = Counter(d.message_id for d in sandbox.deliveries())
    assert {m: counts[m] for m in message_ids} == dict.fromkeys(message_ids, 1)
    assert sum(counts.values()) == len(message_ids)


def test_sends_queued_before_and_while_suspended_are_held_then_sent_exactly_once(
    owned: Account, queues: Queues
) -> None:
    rid = opted_in(owned, recipients_api, PHONE)
    scheduled = send(owned, recipient_id=rid, send_at=clock.rfc3339(clock.now() + timedelta(minutes=20))).body["id"]
    queued = send(owned, recipient_id=rid).body["id"]  # on the send queue, not yet worked

    suspend(owned)
    work(queues)  # the worker finds the account suspended: the message is kept, not handed to a carrier
    assert inbound(owned, "HELP").status == 200  # queued while suspended: the HELP answer
    work(queues)
    clock.advance(30 * MINUTE)
    assert release()["held"] == 1  # the scheduled send came due while suspended
    settle(queues)
    assert sandbox.deliveries() == []
    assert (status(owned, scheduled), status(owned, queued)) == ("queued", "queued")
    assert len([i for i in held_items(owned.account_id) if i["sk"].startswith("MSG#")]) == 3

    reinstate(owned)
    assert release()["resumed"] == 3
    settle(queues)

    help_reply = next(d.message_id for d in sandbox.deliveries() if d.message_id not in (scheduled, queued))
    sent_once([scheduled, queued, help_reply])
    assert (status(owned, scheduled), status(owned, queued)) == ("sent", "sent")
    assert held_items(owned.account_id) == []


def test_webhooks_pause_while_suspended_and_are_delivered_once_after(
    owned: Account, queues: Queues, listener: Listener
) -> None:
    opted_in(owned, recipients_api, PHONE)
    add_endpoint(owned.account_id, "whe_1", listener.url, {"message.inbound", "recipient.opted_out"})
    suspend(owned)
    assert inbound(owned, "hello while suspended").status == 200
    assert inbound(owned, "STOP").status == 200  # the opt-out itself is recorded at once; its webhook waits
    for _ in range(2):
        assert deliver_webhooks(queues)["batchItemFailures"] == []
    assert listener.received == []
    assert len([i for i in held_items(owned.account_id) if i["sk"].startswith("HOLD#HOOK#")]) == 3

    reinstate(owned)
    assert release()["resumed"] == 3
    for _ in range(3):
        deliver_webhooks(queues)
        release()

    events = [json.loads(r.body) for r in listener.received]
    assert sorted(e["type"] for e in events) == ["message.inbound", "message.inbound", "recipient.opted_out"]
    assert len({e["id"] for e in events}) == 3  # each event once
    assert held_items(owned.account_id) == []


@pytest.mark.parametrize("round_", range(3))
def test_reinstatement_during_a_release_run_sends_each_held_message_once(
    owned: Account, queues: Queues, listener: Listener, round_: int
) -> None:
    rid = opted_in(owned, recipients_api, PHONE)
    add_endpoint(owned.account_id, "whe_1", listener.url, {"message.inbound"})
    messages = [send(owned, recipient_id=rid, body=f"Held {n}").body["id"] for n in range(4)]
    later = clock.rfc3339(clock.now() + timedelta(minutes=20))
    messages.append(send(owned, recipient_id=rid, send_at=later).body["id"])
    suspend(owned)
    work(queues)
    assert inbound(owned, "hello").status == 200
    deliver_webhooks(queues)
    clock.advance(30 * MINUTE)

    def release_and_work() -> None:
        release()
        work(queues)

    with serialized_moto():
        outcome, _ = _race(lambda: reinstate(owned), release_and_work)
    assert outcome.status == "active"
    settle(queues)
    for _ in range(2):
        deliver_webhooks(queues)
        release()

    sent_once(messages)
    assert [json.loads(r.body)["type"] for r in listener.received] == ["message.inbound"]
    assert held_items(owned.account_id) == []


def test_a_suspension_during_a_release_run_sends_nothing_until_reinstated(owned: Account, queues: Queues) -> None:
    rid = opted_in(owned, recipients_api, PHONE)
    messages = [send(owned, recipient_id=rid, body=f"Mid {n}").body["id"] for n in range(3)]
    suspend(owned)
    work(queues)
    reinstate(owned)  # the next release run hands the three back ...

    with serialized_moto():
        _race(release, lambda: suspend(owned))  # ... while the account is suspended again
    settle(queues)
    delivered_while_suspended = len(sandbox.deliveries())
    # The run may have queued some before the suspension landed: the worker then holds them, never sends.
    assert delivered_while_suspended == 0

    reinstate(owned)
    settle(queues)
    sent_once(messages)


def test_two_reinstatements_at_once_resume_once_and_send_once(owned: Account, queues: Queues) -> None:
    rid = opted_in(owned, recipients_api, PHONE)
    messages = [send(owned, recipient_id=rid, body=f"Twice {n}").body["id"] for n in range(3)]
    suspend(owned)
    work(queues)

    with serialized_moto():
        results = _race(lambda: _attempt(reinstate, owned), lambda: _attempt(reinstate, owned))
    assert sorted(type(r).__name__ for r in results) == ["AccountStatusOut", "Conflict"]
    settle(queues)
    sent_once(messages)


def _attempt(action: Any, account: Account) -> Any:
    try:
        return action(account)
    except Conflict as refused:
        assert refused.instance_code == "account_not_suspended"
        return refused

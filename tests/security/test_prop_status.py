"""Property: a message's status never moves backwards, under any order of carrier events (duplicates, late and
replayed ones) and the platform's own transitions, applied through the real handler, logic and dal under moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.carrier_events import handler as carrier_events
from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard import clock, ids
from switchboard.carriers import sandbox
from switchboard.dal import messages as store
from switchboard.dal import messaging_table
from switchboard.dal.keys import account_pk
from switchboard.logic import messages as messages_logic
from switchboard.logic import receipts, sending
from switchboard.models.message_status import RANK, advances
from tests.integration.conftest import _handlers_run_as_deployed, aws
from tests.integration.messaging.conftest import SIGNING_KEY, Account, call, make_account, opted_in, queues
from tests.integration.messaging.test_messages import work

__all__ = ["_handlers_run_as_deployed", "aws", "queues"]  # fixtures

PHONE = "+14155552671"
CARRIER_STATUSES = sorted(sandbox.STATUSES)  # what a carrier can report (sandbox wire format)
OWN_STATUSES = ["queued", "sending", "expired", "canceled"]  # what the platform moves a message to itself


class Pool:
    """Sent messages, one per example: the first through the API and the worker, the rest copies of its stored item
    under new ids, each sealed field sealed again for its new key and mapped to a new carrier id (the dal's calls)."""

    def __init__(self, account: Account, recipient_id: str, queues: Any) -> None:
        body = {"recipient_id": recipient_id, "channel": "sms", "body": "Hi"}
        created = account.call(messages_api, "POST", "/v1/messages", body)
        assert created.status == 202, created.body
        work(queues)
        [self.owed] = sandbox.take_callbacks()
        self.account = account
        template = store.get(account.account_id, created.body["id"])
        assert template is not None and template.status == "sent"
        self.template = template
        self.stored = messaging_table.get(account_pk(account.account_id), store.message_sk(template.message_id)) or {}

    def take(self) -> tuple[str, dict[str, Any]]:
        """A new sent message's id and a status callback for it (the ids every event of the example reuses)."""
        account_id, message_id = self.account.account_id, ids.new_id("msg")
        item = {**self.stored, "sk": store.message_sk(message_id), "message_id": message_id}
        for field in self.template.sealed:
            value = messages_logic.open_field(account_id, self.template, field) or ""
            item[field] = messages_logic.seal(account_id, message_id, field, value)
        messaging_table.put(item, condition="attribute_not_exists(pk)")
        carrier_message_id = f"sbx_{message_id}"
        store.map_carrier_id(self.owed["carrier"], carrier_message_id, account_id, message_id)
        event = {**self.owed, "id": f"sbxevt_{message_id}", "carrier_message_id": carrier_message_id}
        # The carrier echoes the reference the worker gave it: the copy's own, or its events would be refused.
        event["ref"] = receipts.callback_ref(account_id, message_id)
        return message_id, event


@pytest.fixture
def pool(queues: Any) -> Pool:
    account = make_account()
    return Pool(account, opted_in(account, recipients_api, PHONE), queues)


def _post(event: dict[str, Any]) -> int:
    raw = json.dumps(event)
    signature = sandbox.sign(SIGNING_KEY, raw.encode(), int(clock.timestamp()))
    answer = call(
        carrier_events,
        "POST",
        f"/v1/carriers/{event['carrier']}/events",
        raw=raw,
        headers={sandbox.SIGNATURE_HEADER: signature},
    )
    return answer.status


# One step: (source, status, event number); the same event number twice is a carrier's retry of one event.
STEPS = st.lists(
    st.tuples(st.sampled_from(["carrier"] * 3 + ["platform"]), st.integers(0, 8), st.integers(0, 5)),
    min_size=1,
    max_size=8,
)


def status_of(account_id: str, message_id: str) -> str:
    stored = store.get(account_id, message_id)
    assert stored is not None
    return stored.status


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, shuffle=st.randoms(use_true_random=False))
def test_status_never_moves_backwards_under_any_order_of_events(
    pool: Pool, steps: list[tuple[str, int, int]], shuffle: Any
) -> None:
    account = pool.account
    message_id, owed = pool.take()
    shuffle.shuffle(steps)
    expected = status_of(account.account_id, message_id)
    assert expected == "sent"
    history = [expected]
    before = expected
    for source, pick, event_number in steps:
        if source == "carrier":
            status = CARRIER_STATUSES[pick % len(CARRIER_STATUSES)]
            event = {**owed, "id": f"{owed['id']}_{event_number}_{status}", "status": status}
            assert _post(event) == 200
        else:
            status = OWN_STATUSES[pick % len(OWN_STATUSES)]
            sending.move((account.account_id, message_id), status)
        after = status_of(account.account_id, message_id)
        if after != before:
            history.append(after)
            assert advances(before, after), (before, after)  # never backwards, never out of a final state
        if advances(expected, status):
            expected = status
        assert after == expected, (steps, history)  # the one order-free rule: advance when `advances` says so
        before = after
    stored = store.get(account.account_id, message_id)
    assert stored is not None
    ranks = [RANK[event.status] for event in stored.events]
    assert ranks == sorted(set(ranks)), stored.events  # the log: strictly later statuses only, each once
    shown = account.call(messages_api, "GET", f"/v1/messages/{message_id}").body
    assert shown["status"] == stored.status
    assert [e["status"] for e in shown["events"]] == [e.status for e in stored.events]

"""Finding 4: START / UNSTOP / YES restore only a consent the person had before opting out; else an ordinary message."""

import json
from typing import Any

import boto3
import pytest

from switchboard.logic import webhooks
from switchboard.models.webhooks import DeliveryJob
from tests.integration.messaging.conftest import Account, Queues
from tests.integration.webhooks.conftest import add_endpoint
from tests.security.consent_support import inbound, ledger, recipient, record, state

# Every opt-in keyword, as people write them.
OPT_IN_WORDS = [
    "START",
    "unstop",
    "Yes",
    "yes!",
    " START. ",
    "\uff33\uff54\uff41\uff52\uff54",
    "\u200bUNSTOP\u200b",
    "Y E S",
]


def inbound_events(queues: Queues) -> list[dict[str, Any]]:
    """The `message.inbound` events queued for the account's webhook endpoint, oldest first."""
    events = []
    for queued in queues.drain("Callbacks"):
        job = DeliveryJob.model_validate_json(queued["Body"])
        event = json.loads(webhooks.open_event(job))
        if event["type"] == "message.inbound":
            events.append(event["data"])
    return sorted(events, key=lambda e: e["id"])


def inbound_count(aws: dict[str, str]) -> int:
    items = boto3.client("dynamodb").scan(TableName=aws["MESSAGING_TABLE"])["Items"]
    return sum(1 for i in items if i["sk"]["S"].startswith("INB#"))


def test_opt_in_words_from_someone_who_never_opted_in_create_nothing(
    account: Account, queues: Queues, aws: dict[str, str]
) -> None:
    add_endpoint(account.account_id, "whe_1", "https://hooks.example/x", {"message.inbound"})
    never = recipient(account, "+14155550001")  # no ledger at all
    refused = recipient(account, "+14155550002")  # the account recorded an opt-out, there never was an opt-in
    assert record(account, refused, "sms", "opted_out", "api").status == 201
    inbound(account, "STOP", phone="+14155550003")  # a stranger's STOP, then the number becomes a recipient
    remembered = recipient(account, "+14155550003")
    elsewhere = recipient(account, "+14155550004")  # opted in on sms only, writes on WhatsApp
    assert record(account, elsewhere, "sms", "opted_in", "web_form").status == 201
    queues.drain("Callbacks")
    situations = [
        (never, "+14155550001", "sms"),
        (refused, "+14155550002", "sms"),
        (remembered, "+14155550003", "sms"),
        (elsewhere, "+14155550004", "whatsapp"),
        (None, "+14155550005", "sms"),  # a stranger
    ]
    before = {rid: (ledger(account, rid), state(account, rid)) for rid, _, _ in situations if rid}
    stored = inbound_count(aws)
    for word in OPT_IN_WORDS:
        for _, phone, channel in situations:
            inbound(account, word, phone=phone, channel=channel)
    assert {rid: (ledger(account, rid), state(account, rid)) for rid, _, _ in situations if rid} == before
    assert state(account, recipient(account, "+14155550005")) == {"sms": None, "whatsapp": None, "voice": None}
    # Each was recorded as an inbound message and nothing else: no keyword, no reply claiming a subscription.
    assert inbound_count(aws) == stored + len(OPT_IN_WORDS) * len(situations)
    events = inbound_events(queues)
    assert len(events) == len(OPT_IN_WORDS) * len(situations)
    assert {e["keyword"] for e in events} == {None}
    assert all(queues.drain(f"{c.capitalize()}Send") == [] for c in ("sms", "whatsapp", "voice"))


@pytest.mark.parametrize("word", OPT_IN_WORDS)
def test_an_opt_in_word_restores_the_consent_the_person_had(account: Account, queues: Queues, word: str) -> None:
    add_endpoint(account.account_id, "whe_1", "https://hooks.example/x", {"message.inbound"})
    rid = recipient(account)
    assert record(account, rid, "sms", "opted_in", "web_form").status == 201
    inbound(account, "STOP")
    inbound(account, word, channel="whatsapp")  # another channel: the sms opt-out is not lifted there
    assert state(account, rid) == {"sms": "opted_out", "whatsapp": None, "voice": None}
    inbound(account, word)
    entries = ledger(account, rid)
    assert [(e["status"], e["source"]) for e in entries] == [
        ("opted_in", "web_form"),
        ("opted_out", "keyword"),
        ("opted_in", "keyword"),
    ]
    assert not entries[-1]["overrides_opt_out"]
    assert state(account, rid)["sms"] == "opted_in"
    inbound(account, word)  # already opted in: nothing to restore, no second entry
    assert len(ledger(account, rid)) == 3
    assert [e["keyword"] for e in inbound_events(queues)] == ["stop", None, "start", None]

"""Finding 3: a tenant can neither forge a platform-witnessed consent nor override the person's own STOP."""

import threading
from typing import Any

import pytest

from functions.account_api import handler as account_api
from functions.messages_api import handler as messages_api
from switchboard import clock
from switchboard.dal import recipients as recipients_dal
from switchboard.logic import consent
from tests.integration.messaging.conftest import Account
from tests.integration.moto_atomic import serialized_moto
from tests.security.consent_support import PHONE, evidence, inbound, ledger, recipient, record, state

# Every source only the platform can witness, and names dressed like them.
PLATFORM_SOURCES = [
    "keyword",
    "carrier",
    "carrier_preference",
    "carrier_opt_out",
    "whatsapp_preference",
    "inbound",
    "system",
    "keyword_start",
    "carrier_block",
    "platform",
    "tombstone",
]
# The person's own opt-outs: a keyword (in any carrier's name, any spelling) or WhatsApp's "stop promotions".
PERSON_OPT_OUTS: list[tuple[str, str, dict[str, Any]]] = [
    ("sms", "STOP", {}),
    ("sms", "stop please", {"carrier": "sandbox-b"}),
    ("whatsapp", "\u200b\uff33\uff34\uff2f\uff30!", {}),
    ("whatsapp", "thanks", {"extra": {"type": "user_preferences", "marketing_messages": "stop"}}),
]


def send(account: Account, channel: str = "sms") -> Any:
    payload = {"to": PHONE, "channel": channel, "body": "Hello Ada"}
    return account.call(messages_api, "POST", "/v1/messages", payload)


def test_the_api_cannot_write_a_platform_only_source(account: Account) -> None:
    rid = recipient(account)
    for source in PLATFORM_SOURCES:
        for status in ("opted_in", "opted_out"):
            answer = record(account, rid, "sms", status, source, evidence=evidence())
            assert (answer.status, answer.body["code"]) == (422, "consent_source_reserved"), source
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert [e["pointer"] for e in answer.body["errors"]] == ["/source"]
    assert ledger(account, rid) == []
    assert state(account, rid)["sms"] is None
    assert send(account).body["code"] == "consent_required"


@pytest.mark.parametrize(("channel", "body", "how"), PERSON_OPT_OUTS)
def test_the_persons_stop_holds_until_they_opt_back_in(
    account: Account, channel: str, body: str, how: dict[str, Any]
) -> None:
    rid = recipient(account)
    assert record(account, rid, channel, "opted_in", "web_form").status == 201
    inbound(account, body, channel=channel, **how)
    [*_, stop] = ledger(account, rid)
    assert (stop["status"], stop["source"]) == ("opted_out", "carrier_preference" if how.get("extra") else "keyword")
    # Whatever the account writes, with or without evidence, under any source name.
    for attempt in (
        {"source": "api"},
        {"source": "web_form", "evidence": evidence()},
        {"source": "import", "evidence": evidence(text_version="v9", captured_at="2099-01-01T00:00:00Z")},
    ):
        answer = record(account, rid, channel, "opted_in", **attempt)
        assert (answer.status, answer.body["code"]) == (409, "opted_out_by_recipient"), answer.body
        assert answer.body["opt_out_entry_id"] == stop["id"]
    assert ledger(account, rid)[-1] == stop
    assert state(account, rid)[channel] == "opted_out"
    assert send(account, channel).body["code"] == "consent_required"
    # The account may still record an opt-out; the person's START restores the consent they had.
    assert record(account, rid, channel, "opted_out", "api").status == 201
    inbound(account, "START", channel=channel)
    assert (ledger(account, rid)[-1]["status"], ledger(account, rid)[-1]["source"]) == ("opted_in", "keyword")
    assert state(account, rid)[channel] == "opted_in"
    if channel == "sms":  # (a WhatsApp send needs an approved template besides)
        assert send(account, channel).status == 202


def test_a_stop_before_the_number_was_a_recipient_holds(account: Account) -> None:
    inbound(account, "Stop!")  # a stranger: writing first made them a recipient (issue 14), opted out by the STOP
    rid = recipient(account)
    assert state(account, rid)["sms"] == "opted_out"
    assert [(e["status"], e["source"]) for e in ledger(account, rid)] == [("opted_out", "keyword")]
    answer = record(account, rid, "sms", "opted_in", "web_form", evidence=evidence())
    assert (answer.status, answer.body["code"]) == (409, "opted_out_by_recipient")
    assert len(ledger(account, rid)) == 1
    assert send(account).body["code"] == "consent_required"


def test_overriding_the_accounts_own_opt_out_needs_evidence_and_is_flagged(account: Account) -> None:
    rid = recipient(account)
    assert record(account, rid, "sms", "opted_in", "web_form").status == 201
    opt_out = record(account, rid, "sms", "opted_out", "api").body
    before = clock.rfc3339_at(clock.timestamp() - 3600)
    refused: list[tuple[dict[str, Any] | None, str]] = [
        (None, "/evidence"),
        (evidence(text_version=None), "/evidence/text_version"),
        (evidence(text_version="  "), "/evidence/text_version"),
        (evidence(captured_at=None), "/evidence/captured_at"),
        (evidence(captured_at="yesterday"), "/evidence/captured_at"),
        (evidence(captured_at="2026-11-01T10:00:00"), "/evidence/captured_at"),  # no offset
        (evidence(captured_at=before), "/evidence/captured_at"),  # before the opt-out: not a new consent
        (evidence(captured_at=clock.rfc3339_at(clock.timestamp() + 86400)), "/evidence/captured_at"),
    ]
    for proof, pointer in refused:
        fields = {"evidence": {k: v for k, v in proof.items() if v is not None}} if proof else {}
        answer = record(account, rid, "sms", "opted_in", "web_form", **fields)
        assert (answer.status, answer.body["code"]) == (422, "consent_override_requires_evidence"), proof
        assert [e["pointer"] for e in answer.body["errors"]] == [pointer]
    assert ledger(account, rid)[-1]["id"] == opt_out["id"]
    assert send(account).body["code"] == "consent_required"

    proof = evidence()
    made = record(account, rid, "sms", "opted_in", "web_form", evidence=proof)
    assert made.status == 201, made.body
    assert (made.body["overrides_opt_out"], made.body["overridden_entry_id"]) == (True, opt_out["id"])
    entries = ledger(account, rid)
    assert [e["overrides_opt_out"] for e in entries] == [False, False, True]
    assert (entries[-1]["overridden_entry_id"], entries[-1]["evidence"]) == (opt_out["id"], proof)
    events = account.call(account_api, "GET", "/v1/audit-events", role="admin").body["data"]
    changed = [e for e in events if e["type"] == "consent.changed"]
    assert changed[0]["data"] == {
        "channel": "sms",
        "status": "opted_in",
        "source": "web_form",
        "overrides_opt_out": True,
        "overridden_entry_id": opt_out["id"],
    }
    assert not any(e["data"].get("overrides_opt_out") for e in changed[1:])
    assert send(account).status == 202
    # An opt-in over no opt-out is no override: no evidence needed, nothing flagged.
    other = record(account, rid, "voice", "opted_in", "api").body
    assert (other["overrides_opt_out"], other["overridden_entry_id"]) == (False, None)


def test_a_stop_racing_an_evidenced_override_wins(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """The STOP lands between the override's read of the ledger and its write, on another thread."""
    rid = recipient(account)
    record(account, rid, "sms", "opted_in", "web_form")
    record(account, rid, "sms", "opted_out", "api")
    read = recipients_dal.latest_consent

    def read_then_stop(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        monkeypatch.setattr(recipients_dal, "latest_consent", read)
        stop = threading.Thread(target=inbound, args=(account, "STOP"))
        stop.start()
        stop.join()
        return found

    monkeypatch.setattr(recipients_dal, "latest_consent", read_then_stop)
    with serialized_moto():
        raced = record(account, rid, "sms", "opted_in", "web_form", evidence=evidence())
    assert (raced.status, raced.body["code"]) == (409, consent.ConsentChanged.code)
    assert (ledger(account, rid)[-1]["source"], state(account, rid)["sms"]) == ("keyword", "opted_out")
    # Decided again on the new latest entry: the person's STOP, which only they lift.
    again = record(account, rid, "sms", "opted_in", "web_form", evidence=evidence())
    assert (again.status, again.body["code"]) == (409, "opted_out_by_recipient")

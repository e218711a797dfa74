"""One contract, two implementations: InMemoryRecipients keeps the consent ledger as dal.recipients does under moto.

The logic tests on the fake (tests/unit/test_consent_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.exceptions import InvalidTag

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import recipients as recipients_dal
from switchboard.dal.recipients import ConsentRecord
from switchboard.logic.consent import ConsentStore
from tests.fakes import contract
from tests.fakes.identity import InMemoryRecipients, SealedElsewhere

ACCOUNT = "acct_contract"
RID = "rcp_contract"


def _in_memory() -> ConsentStore:
    fake = InMemoryRecipients()
    fake.add(ACCOUNT, RID)
    return fake


def _dynamodb() -> ConsentStore:
    envelope.create_key(ACCOUNT)
    recipient = recipients_dal.new_recipient(
        ACCOUNT,
        RID,
        e164="+14155552671",
        phone_index="idx",
        country="US",
        consent={},
        created_at=clock.rfc3339(clock.now()),
    )
    assert recipients_dal.create(ACCOUNT, recipient, "idx") is None
    return recipients_dal


@pytest.fixture(params=contract.SIDES)
def repo(request: pytest.FixtureRequest) -> ConsentStore:
    return contract.side(request, _in_memory, _dynamodb)


def entry(n: int, status: str, *, channel: str = "sms") -> ConsentRecord:
    return ConsentRecord(
        entry_id=f"cns_{n:04d}",
        recipient_id=RID,
        channel=channel,
        status=status,
        source="api",
        at=clock.rfc3339(clock.now()),
    )


def test_an_entry_becomes_the_current_state_and_the_latest(repo: ConsentStore) -> None:
    assert repo.latest_consent(ACCOUNT, RID, "sms") is None
    assert repo.set_consent(ACCOUNT, entry(1, "opted_in"))
    assert repo.set_consent(ACCOUNT, entry(2, "opted_out"))
    assert repo.set_consent(ACCOUNT, entry(3, "opted_in", channel="voice"))
    recipient = repo.get(ACCOUNT, RID)
    assert recipient is not None
    assert recipient.consent == {"sms": "opted_out", "voice": "opted_in"}
    assert recipient.consent_last["sms"] == "cns_0002"
    latest = repo.latest_consent(ACCOUNT, RID, "sms")
    assert latest is not None and latest.entry_id == "cns_0002"
    opted_in = repo.latest_consent(ACCOUNT, RID, "sms", status="opted_in")
    assert opted_in is not None and opted_in.entry_id == "cns_0001"


def test_the_writers_precondition_is_the_channels_latest_entry(repo: ConsentStore) -> None:
    assert repo.set_consent(ACCOUNT, entry(1, "opted_in"), expected_last=None)
    assert not repo.set_consent(ACCOUNT, entry(2, "opted_out"), expected_last=None)  # one exists now
    assert not repo.set_consent(ACCOUNT, entry(3, "opted_out"), expected_last="cns_other")
    assert repo.set_consent(ACCOUNT, entry(4, "opted_out"), expected_last="cns_0001")
    assert repo.set_consent(ACCOUNT, entry(5, "opted_in"))  # True: whatever came before
    assert [e.entry_id for e in repo.ledger(ACCOUNT, RID, limit=10, cursor=None)[0]] == [
        "cns_0001",
        "cns_0004",
        "cns_0005",
    ]


def test_no_entry_for_a_recipient_that_is_not_there(repo: ConsentStore) -> None:
    stray = ConsentRecord(
        entry_id="cns_9", recipient_id="rcp_missing", channel="sms", status="opted_out", source="api", at="x"
    )
    assert not repo.set_consent(ACCOUNT, stray)
    assert repo.ledger(ACCOUNT, "rcp_missing", limit=10, cursor=None) == ([], None)


def test_evidence_is_sealed_to_its_entry_and_opens_from_the_ledger(repo: ConsentStore) -> None:
    made = entry(1, "opted_in")
    assert repo.set_consent(ACCOUNT, made, evidence_json='{"text_version":"v1"}')
    [stored], _ = repo.ledger(ACCOUNT, RID, limit=10, cursor=None)
    assert repo.open_field(ACCOUNT, stored, "evidence_sealed") == '{"text_version":"v1"}'
    other = entry(2, "opted_in")
    with pytest.raises((InvalidTag, SealedElsewhere)):  # another entry's associated data: it does not open
        repo.open_field(ACCOUNT, dataclasses.replace(other, evidence_sealed=stored.evidence_sealed), "evidence_sealed")


def test_the_ledger_pages_oldest_first(repo: ConsentStore) -> None:
    for n in range(1, 6):
        assert repo.set_consent(ACCOUNT, entry(n, "opted_in" if n % 2 else "opted_out"))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        items, cursor = repo.ledger(ACCOUNT, RID, limit=2, cursor=cursor)
        seen += [e.entry_id for e in items]
        if cursor is None:
            break
    assert seen == [f"cns_{n:04d}" for n in range(1, 6)]

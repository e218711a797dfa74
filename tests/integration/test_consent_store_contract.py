"""One contract, two implementations: InMemoryRecipients keeps the consent ledger as dal.recipients does under moto.

The logic tests on the fake (tests/unit/test_consent_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import recipients as recipients_dal
from switchboard.logic.consent import ConsentStore
from tests.fakes.identity import InMemoryRecipients, SealedElsewhere

ACCOUNT = "acct_contract"
RID = "rcp_contract"


@pytest.fixture(params=["in_memory", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> ConsentStore:
    if request.param == "in_memory":
        fake = InMemoryRecipients()
        fake.add(ACCOUNT, RID)
        return fake
    request.getfixturevalue("aws")
    envelope.create_key(ACCOUNT)
    item = recipients_dal.new_recipient(
        ACCOUNT,
        RID,
        e164="+14155552671",
        phone_index="idx",
        country="US",
        consent={},
        created_at=clock.rfc3339(clock.now()),
    )
    assert recipients_dal.create(ACCOUNT, item, "idx") is None
    return recipients_dal


def entry(
    repo: ConsentStore, n: int, status: str, *, channel: str = "sms", evidence: str | None = None
) -> dict[str, Any]:
    return repo.new_consent_entry(
        ACCOUNT,
        entry_id=f"cns_{n:04d}",
        recipient_id=RID,
        channel=channel,
        status=status,
        source="api",
        at=clock.rfc3339(clock.now()),
        evidence_json=evidence,
    )


def test_an_entry_becomes_the_current_state_and_the_latest(repo: ConsentStore) -> None:
    assert repo.latest_consent(ACCOUNT, RID, "sms") is None
    assert repo.set_consent(ACCOUNT, entry(repo, 1, "opted_in"))
    assert repo.set_consent(ACCOUNT, entry(repo, 2, "opted_out"))
    assert repo.set_consent(ACCOUNT, entry(repo, 3, "opted_in", channel="voice"))
    recipient = repo.get(ACCOUNT, RID)
    assert recipient is not None
    assert recipient["consent"] == {"sms": "opted_out", "voice": "opted_in"}
    assert recipient[repo.consent_last_attr("sms")] == "cns_0002"
    latest = repo.latest_consent(ACCOUNT, RID, "sms")
    assert latest is not None and latest["entry_id"] == "cns_0002"
    opted_in = repo.latest_consent(ACCOUNT, RID, "sms", status="opted_in")
    assert opted_in is not None and opted_in["entry_id"] == "cns_0001"


def test_the_writers_precondition_is_the_channels_latest_entry(repo: ConsentStore) -> None:
    assert repo.set_consent(ACCOUNT, entry(repo, 1, "opted_in"), expected_last=None)
    assert not repo.set_consent(ACCOUNT, entry(repo, 2, "opted_out"), expected_last=None)  # one exists now
    assert not repo.set_consent(ACCOUNT, entry(repo, 3, "opted_out"), expected_last="cns_other")
    assert repo.set_consent(ACCOUNT, entry(repo, 4, "opted_out"), expected_last="cns_0001")
    assert repo.set_consent(ACCOUNT, entry(repo, 5, "opted_in"))  # True: whatever came before
    assert [e["entry_id"] for e in repo.ledger(ACCOUNT, RID, limit=10, cursor=None)[0]] == [
        "cns_0001",
        "cns_0004",
        "cns_0005",
    ]


def test_no_entry_for_a_recipient_that_is_not_there(repo: ConsentStore) -> None:
    stray = repo.new_consent_entry(
        ACCOUNT, entry_id="cns_9", recipient_id="rcp_missing", channel="sms", status="opted_out", source="api", at="x"
    )
    assert not repo.set_consent(ACCOUNT, stray)
    assert repo.ledger(ACCOUNT, "rcp_missing", limit=10, cursor=None) == ([], None)


def test_evidence_is_sealed_to_its_entry_and_opens_from_the_ledger(repo: ConsentStore) -> None:
    made = entry(repo, 1, "opted_in", evidence='{"text_version":"v1"}')
    assert repo.set_consent(ACCOUNT, made)
    [stored], _ = repo.ledger(ACCOUNT, RID, limit=10, cursor=None)
    assert repo.open_field(ACCOUNT, stored, "evidence_sealed") == '{"text_version":"v1"}'
    other = entry(repo, 2, "opted_in")
    with pytest.raises((InvalidTag, SealedElsewhere)):  # another entry's associated data: it does not open
        repo.open_field(ACCOUNT, {**other, "evidence_sealed": stored["evidence_sealed"]}, "evidence_sealed")


def test_the_ledger_pages_oldest_first(repo: ConsentStore) -> None:
    for n in range(1, 6):
        assert repo.set_consent(ACCOUNT, entry(repo, n, "opted_in" if n % 2 else "opted_out"))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        items, cursor = repo.ledger(ACCOUNT, RID, limit=2, cursor=cursor)
        seen += [e["entry_id"] for e in items]
        if cursor is None:
            break
    assert seen == [f"cns_{n:04d}" for n in range(1, 6)]

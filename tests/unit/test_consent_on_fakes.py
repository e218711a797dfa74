"""The consent ledger's rules (logic.consent) on in-memory repositories: no AWS, milliseconds per test.

The same rules through the handlers and DynamoDB (moto) are tests/security/test_p03_consent_provenance.py and
test_p04_keyword_optin.py; tests/integration/test_consent_store_contract.py proves the fake keeps the dal's rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import clock
from switchboard.auth import Principal
from switchboard.logic import consent
from switchboard.models.errors import Conflict, NotFound, ValidationFailed
from switchboard.models.recipients import ConsentIn, Evidence
from switchboard.models.request import RequestMeta
from tests.fakes.identity import InMemoryRecipients, RecordingAudit, RecordingEvents, session_principal

ACCOUNT = "acct_a"
RID = "rcp_1"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest")
PRINCIPAL = session_principal(ACCOUNT, "usr_owner")


class World:
    """One account with one recipient, and what the ledger wrote, audited and published."""

    def __init__(self) -> None:
        self.repo = InMemoryRecipients()
        self.repo.add(ACCOUNT, RID)
        self.trail = RecordingAudit()
        self.events = RecordingEvents()
        self.ports: dict[str, Any] = {"repo": self.repo, "trail": self.trail, "events": self.events}

    def record(self, channel: str, status: str, source: str, evidence: Evidence | None = None) -> Any:
        body = ConsentIn(channel=channel, status=status, source=source, evidence=evidence)
        return consent.record(PRINCIPAL, RID, body, META, **self.ports)

    def person(self, status: str, source: str = "keyword", channel: str = "sms") -> Any:
        """What inbound processing writes for the person (a STOP, a carrier preference)."""
        recipient = self.repo.get(ACCOUNT, RID)
        assert recipient is not None
        return consent.append(
            account_id=ACCOUNT,
            recipient=recipient,
            channel=channel,
            status=status,
            source=source,
            actor="system",
            meta=None,
            **self.ports,
        )

    def ledger(self) -> list[Any]:
        return consent.ledger(PRINCIPAL, RID, limit=100, cursor=None, repo=self.repo).data

    def state(self, channel: str = "sms") -> str | None:
        recipient = self.repo.get(ACCOUNT, RID)
        assert recipient is not None
        return consent.current(recipient, channel)


def proof(**changes: str | None) -> Evidence:
    fields: dict[str, str | None] = {
        "text_version": "terms-v4",
        "ip": "203.0.113.9",
        "captured_at": clock.rfc3339(clock.now()),
    }
    return Evidence(**(fields | changes))


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("source", ["keyword", "carrier_preference", "inbound", "system", "platform", "tombstone"])
def test_a_platform_only_source_is_refused_and_nothing_is_written(world: World, source: str) -> None:
    for status in ("opted_in", "opted_out"):
        with pytest.raises(ValidationFailed) as refused:
            world.record("sms", status, source, evidence=proof())
        assert refused.value.instance_code == "consent_source_reserved"
        message = f"{source!r} cannot be written through the API"
        assert refused.value.extra["errors"] == [{"pointer": "/source", "message": message}]
    assert world.ledger() == [] and world.state() is None
    assert world.trail.events == [] and world.events.published == []


def test_an_entry_is_current_audited_and_an_opt_out_is_published(world: World) -> None:
    made_in = world.record("sms", "opted_in", "web_form")
    made_out = world.record("sms", "opted_out", "api")
    assert [e.id for e in world.ledger()] == [made_in.id, made_out.id]
    assert world.state() == "opted_out"
    assert not consent.allows_send(world.repo.get(ACCOUNT, RID), "sms")
    assert [(e.type, e.data["status"], e.target) for e in world.trail.events] == [
        ("consent.changed", "opted_in", {"recipient_id": RID}),
        ("consent.changed", "opted_out", {"recipient_id": RID}),
    ]
    [(account, kind, data)] = world.events.published
    assert (account, kind, data["recipient_id"], data["channel"], data["source"]) == (
        ACCOUNT,
        "recipient.opted_out",
        RID,
        "sms",
        "api",
    )


def test_the_persons_stop_holds_against_any_account_write(world: World) -> None:
    world.record("sms", "opted_in", "web_form")
    stop = world.person("opted_out")
    for source, evidence in (("api", None), ("web_form", proof()), ("import", proof(text_version="v9"))):
        with pytest.raises(Conflict) as refused:
            world.record("sms", "opted_in", source, evidence=evidence)
        assert refused.value.instance_code == "opted_out_by_recipient"
        assert refused.value.extra == {"opt_out_entry_id": stop.id}
    assert world.ledger()[-1].id == stop.id and world.state() == "opted_out"
    # The account may still record an opt-out, and the person's START restores the opt-in they had.
    world.record("sms", "opted_out", "api")
    assert consent.restore_by_keyword(ACCOUNT, RID, "sms", **world.ports)
    assert (world.ledger()[-1].status, world.ledger()[-1].source) == ("opted_in", "keyword")
    assert world.state() == "opted_in"


def test_start_restores_nothing_the_person_never_had(world: World) -> None:
    assert not consent.restore_by_keyword(ACCOUNT, RID, "sms", **world.ports)  # no ledger at all
    world.person("opted_out")
    assert not consent.restore_by_keyword(ACCOUNT, RID, "sms", **world.ports)  # never opted in
    assert world.state() == "opted_out" and len(world.ledger()) == 1


def test_an_opt_in_over_the_accounts_opt_out_needs_evidence_and_is_flagged(world: World) -> None:
    world.record("sms", "opted_in", "web_form")
    opt_out = world.record("sms", "opted_out", "api")
    hour_ago = clock.rfc3339_at(clock.timestamp() - 3600)
    refused: list[tuple[Evidence | None, str]] = [
        (None, "/evidence"),
        (proof(text_version=None), "/evidence/text_version"),
        (proof(captured_at=None), "/evidence/captured_at"),
        (proof(captured_at="yesterday"), "/evidence/captured_at"),
        (proof(captured_at="2026-11-01T10:00:00"), "/evidence/captured_at"),
        (proof(captured_at=hour_ago), "/evidence/captured_at"),
        (proof(captured_at=clock.rfc3339_at(clock.timestamp() + 86400)), "/evidence/captured_at"),
    ]
    for evidence, pointer in refused:
        with pytest.raises(ValidationFailed) as failed:
            world.record("sms", "opted_in", "web_form", evidence=evidence)
        assert failed.value.instance_code == "consent_override_requires_evidence"
        assert [e["pointer"] for e in failed.value.extra["errors"]] == [pointer], evidence
    assert world.ledger()[-1].id == opt_out.id

    given = proof()
    made = world.record("sms", "opted_in", "web_form", evidence=given)
    assert (made.overrides_opt_out, made.overridden_entry_id, made.evidence) == (True, opt_out.id, given)
    assert world.ledger()[-1].evidence == given  # sealed to its entry, opened from the ledger
    assert world.trail.events[-1].data == {
        "channel": "sms",
        "status": "opted_in",
        "source": "web_form",
        "overrides_opt_out": True,
        "overridden_entry_id": opt_out.id,
    }
    # An opt-in over no opt-out is no override: nothing needed, nothing flagged.
    other = world.record("voice", "opted_in", "api")
    assert (other.overrides_opt_out, other.overridden_entry_id) == (False, None)


def test_an_entry_written_meanwhile_refuses_the_opt_in_decided_before_it(world: World) -> None:
    recipient = world.repo.get(ACCOUNT, RID)
    assert recipient is not None
    world.record("sms", "opted_out", "api")  # lands after `recipient` was read
    with pytest.raises(consent.ConsentChanged):
        consent.append(
            account_id=ACCOUNT,
            recipient=recipient,
            channel="sms",
            status="opted_in",
            source="api",
            actor="usr_owner",
            meta=META,
            expected_last=recipient.consent_last.get("sms"),
            **world.ports,
        )
    assert world.state() == "opted_out" and len(world.ledger()) == 1


def test_another_accounts_or_an_unknown_recipient_is_404(world: World) -> None:
    other = Principal(**{**PRINCIPAL.__dict__, "account_id": "acct_b"})
    body = ConsentIn(channel="sms", status="opted_out", source="api")
    for principal, rid in ((other, RID), (PRINCIPAL, "rcp_missing"), (PRINCIPAL, "msg_1")):
        with pytest.raises(NotFound):
            consent.record(principal, rid, body, META, **world.ports)
    assert world.ledger() == [] and world.trail.events == []

"""Break-glass access (R34) under moto: the two-person rule, expiry, one open request per account, audited reads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from functions.messages_api import handler as messages_api
from functions.recipients_api import handler as recipients_api
from switchboard.logic import audit, break_glass
from switchboard.models.break_glass import AccessRequestIn
from switchboard.models.errors import Conflict, Forbidden, NotFound, ProblemError
from switchboard.models.request import RequestMeta
from tests.integration.frozen import FrozenClock, frozen_clock  # noqa: F401 - the `frozen` fixture
from tests.integration.identity.conftest import identity  # noqa: F401 - peppers and the SES sender
from tests.integration.identity.gateway import call as gateway
from tests.integration.identity.gateway import login, register
from tests.integration.identity.support import mails_to
from tests.integration.messaging.conftest import Account, Queues, opted_in, queues  # noqa: F401
from tests.integration.moto_atomic import serialized_moto

PHONE = "+14155552671"
BODY = "Your parcel 7731 arrives Tuesday; reply STOP to opt out"
META = RequestMeta(request_id="it-ops", source_ip="203.0.113.9", user_agent="switchboard-ops")


@dataclass(frozen=True)
class Operator:
    """An operator as switchboard.operators resolves one from its IAM session."""

    id: str
    role: str


ALICE, BOB, CAROL = Operator("alice", "security"), Operator("bob", "security"), Operator("carol", "support")


@dataclass
class Customer:
    """A signed-up account (verified owner), with one message sent by the customer."""

    email: str
    account: Account
    owner_token: str
    message_id: str
    recipient_id: str

    @property
    def account_id(self) -> str:
        return self.account.account_id


def customer(email: str, body: str = BODY) -> Customer:
    register(email)
    token = login(email)
    account_id = gateway("GET", "/v1/me", token=token).body["account_id"]
    account = Account(account_id=account_id, senders={})
    recipient_id = opted_in(account, recipients_api, PHONE)
    sent = account.call(messages_api, "POST", "/v1/messages", {"to": PHONE, "channel": "sms", "body": body})
    assert sent.status == 202, sent.body
    return Customer(
        email=email, account=account, owner_token=token, message_id=sent.body["id"], recipient_id=recipient_id
    )


@pytest.fixture
def world(identity: dict[str, str], queues: Queues, frozen: FrozenClock) -> Customer:  # noqa: F811
    return customer("owner@acme.example")


def ask(who: Operator, account_id: str, hours: int = 1) -> str:
    body = AccessRequestIn(
        account_id=account_id, reason="Customer reports missing deliveries", ticket="SUP-1234", hours=hours
    )
    return break_glass.request_access(who, body, META).id


def granted(account_id: str, hours: int = 1) -> str:
    request_id = ask(ALICE, account_id, hours)
    assert break_glass.approve(BOB, request_id, META).status == "approved"
    return request_id


def refused(expected: type[ProblemError], code: str, action: Callable[[], Any]) -> ProblemError:
    with pytest.raises(expected) as caught:
        action()
    assert caught.value.instance_code == code
    return caught.value


def events(account_id: str, type: str) -> list[Any]:
    return [e for e in audit.list_events(account_id, limit=100).data if e.type == type]


def test_break_glass_self_approval_is_refused_and_a_second_operator_approves(world: Customer) -> None:
    request_id = ask(ALICE, world.account_id, hours=2)
    refused(Forbidden, "self_approval", lambda: break_glass.approve(ALICE, request_id, META))
    refused(Forbidden, "forbidden", lambda: break_glass.approve(CAROL, request_id, META))  # support cannot approve
    approved = break_glass.approve(BOB, request_id, META)
    assert (approved.status, approved.requested_by, approved.approved_by) == ("approved", "alice", "bob")
    (event,) = events(world.account_id, "operator.access.approved")
    assert event.actor == "operator:bob"
    assert event.data["requested_by"] == "operator:alice"
    assert event.data["approved_by"] == "operator:bob"
    assert (event.data["grant_id"], event.data["ticket"]) == (request_id, "SUP-1234")
    (asked,) = events(world.account_id, "operator.access.requested")
    assert asked.actor == "operator:alice"
    # Approved once: a second approval (by anyone) is refused, and the grant is not extended.
    refused(Conflict, "access_request_not_pending", lambda: break_glass.approve(BOB, request_id, META))
    assert "an operator was given access" in mails_to(world.email)[-1].subject


def test_break_glass_grant_expires_after_its_hours_with_a_frozen_clock(world: Customer, frozen: FrozenClock) -> None:
    granted(world.account_id, hours=4)
    frozen.advance(4 * 3600 - 1)
    assert break_glass.read_message(ALICE, world.account_id, world.message_id, META).body == BODY
    frozen.advance(1)
    refused(
        Forbidden,
        "access_grant_expired",
        lambda: break_glass.read_message(ALICE, world.account_id, world.message_id, META),
    )
    refused(
        Forbidden,
        "access_grant_expired",
        lambda: break_glass.list_messages(ALICE, world.account_id, META, limit=5, cursor=None),
    )
    # Expired, the account is free for a new request (and the old grant cannot be revoked any more).
    refused(
        Conflict,
        "access_grant_not_active",
        lambda: break_glass.revoke(BOB, break_glass.list_requests(limit=1, cursor=None).data[0].id, META),
    )
    assert ask(CAROL, world.account_id)


def test_break_glass_grants_last_at_most_four_hours() -> None:
    for hours in (0, 5, 24):
        with pytest.raises(ValidationError):
            AccessRequestIn(
                account_id="acct_0123", reason="Customer reports missing deliveries", ticket="T-1", hours=hours
            )


def test_break_glass_second_request_while_one_is_pending_or_active_is_409(world: Customer, frozen: FrozenClock) -> None:
    first = ask(ALICE, world.account_id)
    refused(Conflict, "access_request_open", lambda: ask(CAROL, world.account_id))
    refused(Conflict, "access_request_open", lambda: ask(ALICE, world.account_id))
    break_glass.approve(BOB, first, META)
    refused(Conflict, "access_request_open", lambda: ask(CAROL, world.account_id))
    assert break_glass.revoke(BOB, first, META).status == "revoked"
    refused(
        Forbidden, "no_access_grant", lambda: break_glass.read_message(ALICE, world.account_id, world.message_id, META)
    )
    # Revoked, the account is free; a pending request that nobody approves within the hour expires.
    second = ask(CAROL, world.account_id)
    frozen.advance(break_glass.PENDING_S)
    assert break_glass.read_request(second).status == "expired"
    refused(Conflict, "access_request_not_pending", lambda: break_glass.approve(BOB, second, META))
    third = ask(ALICE, world.account_id)
    assert break_glass.deny(BOB, third, META).status == "denied"
    refused(Conflict, "access_request_not_pending", lambda: break_glass.approve(BOB, third, META))
    refused(Conflict, "access_grant_not_active", lambda: break_glass.revoke(BOB, third, META))
    assert [e.data["grant_id"] for e in events(world.account_id, "operator.access.denied")] == [third]


def test_break_glass_request_for_an_unknown_account_is_404(world: Customer) -> None:
    refused(NotFound, "not_found", lambda: ask(ALICE, "acct_0000000000000000000000000z"))


def test_break_glass_read_without_a_grant_is_403_and_audited_as_denied(world: Customer) -> None:
    refused(
        Forbidden,
        "no_access_grant",
        lambda: break_glass.list_messages(ALICE, world.account_id, META, limit=5, cursor=None),
    )
    pending = ask(ALICE, world.account_id)
    refused(
        Forbidden, "no_access_grant", lambda: break_glass.read_message(ALICE, world.account_id, world.message_id, META)
    )
    newest, oldest = events(world.account_id, "operator.data.read")
    for denied in (newest, oldest):
        assert (denied.outcome, denied.actor, denied.data["refusal"]) == ("denied", "operator:alice", "no_access_grant")
    assert (newest.data["read"], newest.target) == ("message", {"grant_id": pending})
    assert (oldest.data["read"], oldest.target) == ("messages", {})


def test_break_glass_grant_is_the_requesters_alone(world: Customer) -> None:
    granted(world.account_id)
    for other in (BOB, CAROL):
        refused(
            Forbidden,
            "access_grant_not_yours",
            lambda who=other: break_glass.read_message(who, world.account_id, world.message_id, META),  # type: ignore[misc]
        )


def test_break_glass_grant_for_one_account_cannot_read_another(world: Customer) -> None:
    other = customer("owner@other.example", body="Other account's secret body")
    granted(world.account_id)
    refused(
        Forbidden,
        "no_access_grant",
        lambda: break_glass.list_messages(ALICE, other.account_id, META, limit=5, cursor=None),
    )
    refused(
        Forbidden, "no_access_grant", lambda: break_glass.read_message(ALICE, other.account_id, other.message_id, META)
    )
    # The other account's message id under the granted account: not found there.
    refused(NotFound, "not_found", lambda: break_glass.read_message(ALICE, world.account_id, other.message_id, META))
    assert [e.outcome for e in events(other.account_id, "operator.data.read")] == ["denied", "denied"]


def test_break_glass_reads_unseal_what_the_customer_sent_and_the_owner_sees_and_is_told(world: Customer) -> None:
    grant_id = granted(world.account_id)
    page = break_glass.list_messages(ALICE, world.account_id, META, limit=10, cursor=None)
    ((listed,),) = [page.data]
    assert (listed.id, listed.to, listed.body) == (world.message_id, PHONE, BODY)
    # The customer's own list shows no content; the customer's read shows the same as the operator's.
    mine = world.account.call(messages_api, "GET", f"/v1/messages/{world.message_id}", role="owner").body
    read = break_glass.read_message(ALICE, world.account_id, world.message_id, META)
    assert (read.to, read.body) == (mine["to"], mine["body"]) == (PHONE, BODY)
    recipient = break_glass.read_recipient(ALICE, world.account_id, world.recipient_id, META)
    assert (recipient.phone, recipient.name) == (PHONE, "Ada")
    # The owner sees every read in GET /v1/audit-events, with both operators, the grant and the ticket.
    trail = gateway("GET", "/v1/audit-events", token=world.owner_token, query={"limit": "100"})
    assert trail.status == 200, trail.body
    reads = [e for e in trail.body["data"] if e["type"] == "operator.data.read"]
    assert [e["data"]["read"] for e in reads] == ["recipient", "message", "messages"]  # newest first
    for event in reads[1:]:
        assert (event["actor"], event["outcome"]) == ("operator:alice", "success")
        assert event["data"]["requested_by"] == "operator:alice"
        assert event["data"]["approved_by"] == "operator:bob"
        assert (event["data"]["grant_id"], event["data"]["ticket"]) == (grant_id, "SUP-1234")
        assert event["data"]["ids"] == world.message_id
    assert (reads[0]["actor"], reads[0]["data"]["ids"]) == ("operator:alice", world.recipient_id)
    # ... and is e-mailed about each of them (owners only).
    told = [m for m in mails_to(world.email) if "an operator read your data" in m.subject]
    assert len(told) == 3
    assert world.message_id in told[0].body and grant_id in told[0].body and "SUP-1234" in told[0].body
    assert PHONE not in told[0].body and BODY not in told[0].body  # what was read is named, never copied


def test_break_glass_concurrent_requests_and_approvals_cannot_both_win(world: Customer) -> None:
    outcomes: list[str] = []

    def race(action: Callable[[], Any]) -> None:
        try:
            action()
            outcomes.append("won")
        except Conflict as error:
            outcomes.append(error.instance_code)

    def at_once(*actions: Callable[[], Any]) -> None:
        threads = [threading.Thread(target=race, args=(a,)) for a in actions]
        with serialized_moto():
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    at_once(lambda: ask(ALICE, world.account_id), lambda: ask(CAROL, world.account_id))
    assert sorted(outcomes) == ["access_request_open", "won"]
    (pending,) = break_glass.list_requests(limit=10, cursor=None).data
    outcomes.clear()
    approver = BOB if pending.requested_by != "bob" else ALICE
    at_once(*[lambda: break_glass.approve(approver, pending.id, META)] * 2)
    assert sorted(outcomes) == ["access_request_not_pending", "won"]
    assert len(events(world.account_id, "operator.access.approved")) == 1

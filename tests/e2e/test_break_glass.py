"""Break-glass access through the local stack with `switchboard-ops` (R34): two operators, audited reads, expiry."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.e2e.test_messaging import Hooks, hooks
from tests.e2e.test_operator_api import bearer, keys, ops, owner, run_cli, stack

__all__ = ["hooks", "keys", "ops", "owner", "stack"]  # this module's own stack and owner (module-scoped fixtures)

pytestmark = pytest.mark.e2e
PHONE = "+14155550123"
BODY = "Your table for four is booked at 19:30"
REASON = "Customer says the booking confirmations never arrived"


def send(stack: LocalStack, session: str, callback_url: str | None = None) -> dict[str, str]:
    """The owner adds an opted-in recipient and sends one SMS (with `callback_url`, if given); the ids."""
    created = stack.request("POST", "/v1/recipients", {"phone": PHONE, "name": "Grace"}, headers=bearer(session))
    assert created.status == 201, created.text
    recipient_id = created.json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    answer = stack.request("POST", f"/v1/recipients/{recipient_id}/consents", consent, headers=bearer(session))
    assert answer.status == 201, answer.text
    message = {"to": PHONE, "channel": "sms", "body": BODY, **({"callback_url": callback_url} if callback_url else {})}
    sent = stack.request("POST", "/v1/messages", message, headers=bearer(session))
    assert sent.status == 202, sent.text
    return {"recipient_id": recipient_id, "message_id": sent.json()["id"]}


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def ops_cli(keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`switchboard-ops` in this process against this module's stack: (exit status, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        status, out, err = run_cli(keys, monkeypatch, capsys, *argv)
        return int(status), str(out), str(err)

    return run


def trail(stack: LocalStack, session: str) -> list[dict[str, Any]]:
    answer = stack.request("GET", "/v1/audit-events?limit=100", headers=bearer(session))
    assert answer.status == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]
    return events


def test_break_glass_with_switchboard_ops_two_operators_audited_reads_and_revocation(
    stack: LocalStack, owner: dict[str, str], ops_cli: Cli, hooks: Hooks
) -> None:
    account = owner["account_id"]
    sent = send(stack, owner["session"], callback_url=hooks.url + "/status")
    # The message's status callbacks reach the customer's URL; the operator's read shows them, as the customer's does.
    hooks.wait(lambda: any(b'"delivered"' in body for path, _, body in hooks.received if path == "/status"))

    # Nothing can be read before a grant.
    status, _, err = ops_cli("--profile", "alice", "access", "messages", account)
    assert status == 1 and "403 no_access_grant" in err

    status, out, _ = ops_cli(
        "--profile",
        "alice",
        "--json",
        "access",
        "request",
        account,
        "--reason",
        REASON,
        "--ticket",
        "SUP-88",
        "--hours",
        "2",
    )
    assert status == 0, out
    request_id = json.loads(out)["id"]
    assert json.loads(out)["status"] == "pending"

    # A second request while one is pending: 409; the requester cannot approve, nor can support.
    status, _, err = ops_cli("--profile", "carol", "access", "request", account, "--reason", REASON, "--ticket", "T-2")
    assert status == 1 and "409 access_request_open" in err
    status, _, err = ops_cli("--profile", "alice", "access", "approve", request_id)
    assert status == 1 and "403 self_approval" in err
    status, _, err = ops_cli("--profile", "carol", "access", "approve", request_id)
    assert status == 1 and "403 forbidden" in err

    status, out, _ = ops_cli("--profile", "bob", "access", "approve", request_id)
    assert status == 0
    assert re.search(r"^status\s+approved$", out, re.MULTILINE) and re.search(r"^approved by\s+bob$", out, re.MULTILINE)

    # The requester reads what the customer sent, unsealed; the table shows the number and the body.
    status, out, _ = ops_cli("--profile", "alice", "access", "messages", account)
    assert status == 0 and PHONE in out and BODY in out and sent["message_id"] in out
    status, out, _ = ops_cli(
        "--profile", "alice", "--json", "access", "messages", account, "--message", sent["message_id"]
    )
    read = json.loads(out)
    assert (read["id"], read["to"], read["body"]) == (sent["message_id"], PHONE, BODY)
    assert "delivered" in {callback["outcome"] for callback in read["callbacks"]}
    status, out, _ = ops_cli("--profile", "alice", "--json", "access", "recipient", account, sent["recipient_id"])
    assert (json.loads(out)["phone"], json.loads(out)["name"]) == (PHONE, "Grace")
    # The grant is alice's alone: bob (its approver) cannot read under it.
    status, _, err = ops_cli("--profile", "bob", "access", "messages", account)
    assert status == 1 and "403 access_grant_not_yours" in err

    status, out, _ = ops_cli("--profile", "carol", "access", "list")
    assert status == 0 and re.search(
        rf"^{request_id}\s+{account}\s+approved\s+alice\s+bob\s+SUP-88\s+2\s", out, re.MULTILINE
    )

    # The owner sees every read, with both operators, the grant and the ticket, and is e-mailed about each.
    reads = [
        e for e in trail(stack, owner["session"]) if e["type"] == "operator.data.read" and e["outcome"] == "success"
    ]
    assert [e["data"]["read"] for e in reads] == ["recipient", "message", "messages"]
    for event in reads:
        assert event["actor"] == "operator:alice"
        assert (event["data"]["requested_by"], event["data"]["approved_by"]) == ("operator:alice", "operator:bob")
        assert (event["data"]["grant_id"], event["data"]["ticket"]) == (request_id, "SUP-88")
    mails = [m for m in stack.request("GET", "/_local/outbox").json()["data"] if m["to"] == owner["email"]]
    subjects = [m["subject"] for m in mails]
    assert subjects.count("Switchboard: an operator read your data") == 3
    assert "Switchboard: an operator was given access to your data" in subjects
    assert all(BODY not in m["body"] for m in mails)

    # Revoked: the next read is refused, and the account is free for a new request.
    status, out, _ = ops_cli("--profile", "alice", "access", "revoke", request_id)
    assert status == 0 and re.search(r"^status\s+revoked$", out, re.MULTILINE)
    status, _, err = ops_cli("--profile", "alice", "access", "messages", account)
    assert status == 1 and "403 no_access_grant" in err


def other_account(stack: LocalStack) -> tuple[str, str]:
    """Another verified owner's account of this stack: (account id, session)."""
    from tests.e2e.test_contract import _owner  # noqa: PLC0415 - the contract suite's verified owner

    _, session = _owner(stack)
    return stack.request("GET", "/v1/account", headers=bearer(session)).json()["id"], session


def test_break_glass_a_grant_expires_on_the_platform_clock(stack: LocalStack, ops_cli: Cli) -> None:
    account, _ = other_account(stack)

    # A grant of one hour, approved by alice for carol, expires on the platform clock.
    status, out, _ = ops_cli(
        "--profile", "carol", "--json", "access", "request", account, "--reason", REASON, "--ticket", "T-3"
    )
    second = json.loads(out)["id"]
    assert ops_cli("--profile", "alice", "access", "approve", second)[0] == 0
    assert ops_cli("--profile", "carol", "access", "messages", account)[0] == 0
    assert stack.request("POST", "/_local/clock", {"advance_s": 3601}).status == 200
    status, _, err = ops_cli("--profile", "carol", "access", "messages", account)
    assert status == 1 and "403 access_grant_expired" in err
    status, out, _ = ops_cli("--profile", "carol", "access", "show", second)
    assert status == 0 and re.search(r"^status\s+expired$", out, re.MULTILINE)


def test_break_glass_a_denied_request_cannot_be_approved(stack: LocalStack, ops_cli: Cli) -> None:
    account, session = other_account(stack)
    status, out, _ = ops_cli(
        "--profile",
        "carol",
        "--json",
        "access",
        "request",
        account,
        "--reason",
        REASON,
        "--ticket",
        "T-9",
    )
    request_id = json.loads(out)["id"]
    status, out, _ = ops_cli("--profile", "alice", "access", "deny", request_id)
    assert status == 0 and re.search(r"^status\s+denied$", out, re.MULTILINE)
    status, _, err = ops_cli("--profile", "bob", "access", "approve", request_id)
    assert status == 1 and "409 access_request_not_pending" in err
    denied = [e for e in trail(stack, session) if e["type"] == "operator.access.denied"]
    assert [(e["actor"], e["data"]["grant_id"]) for e in denied] == [("operator:alice", request_id)]

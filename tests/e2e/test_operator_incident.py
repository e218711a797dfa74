"""Incident response through the local stack with `switchboard-ops`: every action proven by the next request."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops_cli.client import Problem, local_client
from tests.e2e import test_operator_api as operator_api
from tests.e2e.conftest import LocalStack
from tests.e2e.test_contract import PASSWORD
from tests.e2e.test_contract import _owner as verified_owner
from tests.e2e.test_operator_api import bearer, run_cli
from tests.integration.webhooks import conftest as webhooks
from tests.integration.webhooks.conftest import Listener
from tests.security.test_p02_closure import _race, _wait

pytestmark = pytest.mark.e2e
PHONE = "+14155550177"
REASON = "Abuse report OPS-42"
# Fixtures: a stack of this module's own with its own operator credentials (as the operator API suite has), and
# the loopback webhook receiver.
ops, stack, keys, listener = operator_api.ops, operator_api.stack, operator_api.keys, webhooks.listener


def customer(stack: LocalStack) -> dict[str, str]:
    """A new verified owner: e-mail, session, an API key, the account and user ids."""
    email, session = verified_owner(stack)
    key = stack.request("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, headers=bearer(session)).json()
    account = stack.request("GET", "/v1/account", headers=bearer(session)).json()["id"]
    user = stack.request("GET", "/v1/me", headers=bearer(session)).json()["user_id"]
    return {"email": email, "session": session, "key": key["key"], "account_id": account, "user_id": user}


def works(stack: LocalStack, credential: str) -> bool:
    status = stack.request("GET", "/v1/account", headers=bearer(credential)).status
    assert status in (200, 401)
    return status == 200


def login(stack: LocalStack, email: str, password: str = PASSWORD) -> tuple[int, dict[str, Any]]:
    answer = stack.request("POST", "/v1/sessions", {"email": email, "password": password})
    return answer.status, answer.json()


def operator_events(stack: LocalStack, session: str, actor: str = "operator:alice") -> list[dict[str, Any]]:
    page = stack.request("GET", "/v1/audit-events?limit=100", headers=bearer(session))
    assert page.status == 200, page.text
    return [e for e in page.json()["data"] if e["actor"] == actor]


def value(out: str, label: str) -> str:
    found = re.search(rf"^{label}\s+(.*)$", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def test_suspension_refuses_the_next_request_reinstatement_restores_keys_and_the_owner_sees_both(
    stack: LocalStack, keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mine, other = customer(stack), customer(stack)
    assert works(stack, mine["session"]) and works(stack, mine["key"])
    account = mine["account_id"]

    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "alice", "accounts", "suspend", account, "--reason", REASON
    )

    assert status == 0, out
    assert (value(out, "status"), value(out, "changed"), value(out, "sessions ended")) == ("suspended", "yes", "1")
    assert not works(stack, mine["session"]) and not works(stack, mine["key"])  # the very next request
    assert works(stack, other["session"]) and works(stack, other["key"])  # another account is untouched
    status, refused = login(stack, mine["email"])
    assert (status, refused["code"]) == (401, "account_unavailable")
    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "alice", "accounts", "suspend", account, "--reason", REASON
    )
    assert (status, value(out, "changed")) == (0, "no")  # suspending twice changes nothing
    status, _, err = run_cli(
        keys, monkeypatch, capsys, "--profile", "carol", "accounts", "suspend", account, "--reason", REASON
    )
    assert status == 1 and "403 forbidden" in err  # support may read, not restrict

    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "alice", "--json", "accounts", "reinstate", account
    )

    assert status == 0
    assert json.loads(out) == {"account_id": account, "status": "active", "changed": True, "sessions_ended": 0}
    assert works(stack, mine["key"])  # keys were refused, not revoked
    assert not works(stack, mine["session"])  # the sessions the suspension ended stay ended
    status, _, err = run_cli(keys, monkeypatch, capsys, "--profile", "alice", "accounts", "reinstate", account)
    assert status == 1 and "409 account_not_suspended" in err
    status, session = login(stack, mine["email"])
    assert status == 201
    seen = [(e["type"], e["data"].get("reason")) for e in operator_events(stack, session["token"])]
    assert seen.count(("account.suspended", REASON)) == 1
    assert seen.count(("account.reinstated", None)) == 1
    assert ("session.ended", "account_suspended") in seen  # the session it ended, by the operator
    assert operator_events(stack, other["session"]) == []


def _clock(stack: LocalStack, advance_s: int = 0) -> datetime:
    return datetime.fromisoformat(stack.request("POST", "/_local/clock", {"advance_s": advance_s}).json()["now"])


def _deliveries(stack: LocalStack) -> list[dict[str, Any]]:
    return [d for d in stack.request("GET", "/_local/deliveries").json()["data"] if d["to"] == PHONE]


def test_sends_and_webhooks_held_while_suspended_go_out_exactly_once_after_reinstatement(
    stack: LocalStack,
    keys: Path,
    listener: Listener,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = customer(stack)
    auth = bearer(owner["session"])
    hook = {"url": listener.url, "events": ["message.inbound"]}
    assert stack.request("POST", "/v1/webhook-endpoints", hook, headers=auth).status == 201
    rid = stack.request("POST", "/v1/recipients", {"phone": PHONE}, headers=auth).json()["id"]
    consent = {"channel": "sms", "status": "opted_in", "source": "web_form"}
    assert stack.request("POST", f"/v1/recipients/{rid}/consents", consent, headers=auth).status == 201
    senders = stack.request("GET", "/v1/account", headers=auth).json()["senders"]
    sender = next(s["number"] for s in senders if s["channel"] == "sms")
    later = (_clock(stack) + timedelta(minutes=16)).isoformat().replace("+00:00", "Z")
    message = {"recipient_id": rid, "channel": "sms", "body": "Scheduled before", "send_at": later}
    scheduled = stack.request("POST", "/v1/messages", message, headers=auth)
    assert scheduled.status == 202, scheduled.text

    account = owner["account_id"]
    assert (
        run_cli(keys, monkeypatch, capsys, "--profile", "alice", "accounts", "suspend", account, "--reason", REASON)[0]
        == 0
    )
    help_ = {"from": PHONE, "to": sender, "body": "HELP"}  # while suspended: recorded, its answer and webhook held
    assert stack.request("POST", "/_local/carriers/sandbox-a/inbound", help_).status == 200
    _clock(stack, 17 * 60)  # the scheduled send comes due while suspended
    assert stack.request("POST", "/_local/jobs/release").status == 200
    time.sleep(3)  # the send and webhook workers poll every second: they would have acted by now
    assert _deliveries(stack) == []
    assert listener.received == []

    assert run_cli(keys, monkeypatch, capsys, "--profile", "alice", "accounts", "reinstate", account)[0] == 0
    assert stack.request("POST", "/_local/jobs/release").status == 200

    assert _wait(lambda: len(_deliveries(stack)) >= 2), _deliveries(stack)
    assert _wait(lambda: len(listener.received) >= 1)
    for _ in range(2):  # later runs and redeliveries send nothing again
        assert stack.request("POST", "/_local/jobs/release").status == 200
        time.sleep(1.5)
    per_message = Counter(d["message_id"] for d in _deliveries(stack))
    assert sorted(per_message.values()) == [1, 1]
    assert per_message[scheduled.json()["id"]] == 1
    [answer] = [d for d in _deliveries(stack) if d["message_id"] != scheduled.json()["id"]]
    assert "STOP" in answer["body"]  # the HELP answer, queued while suspended
    events = [json.loads(r.body) for r in listener.received]
    assert [e["type"] for e in events] == ["message.inbound"]  # delivered once


def test_end_sessions_revoke_keys_and_force_reset_each_proven_by_the_next_request(
    stack: LocalStack, keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = customer(stack)
    account, user = owner["account_id"], owner["user_id"]

    status, out, _ = run_cli(keys, monkeypatch, capsys, "--profile", "bob", "sessions", "end", "--account", account)
    assert (status, value(out, "sessions ended")) == (0, "1")
    assert not works(stack, owner["session"]) and works(stack, owner["key"])
    session = login(stack, owner["email"])[1]["token"]
    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "bob", "sessions", "end", "--account", account, "--user", user
    )
    assert (status, value(out, "user"), value(out, "sessions ended")) == (0, user, "1")
    assert not works(stack, session)

    session = login(stack, owner["email"])[1]["token"]
    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "bob", "keys", "revoke-all", account, "--reason", "Leaked"
    )
    assert (status, value(out, "keys revoked")) == (0, "1")
    assert not works(stack, owner["key"]) and works(stack, session)
    status, out, _ = run_cli(keys, monkeypatch, capsys, "--profile", "bob", "--json", "keys", "revoke-all", account)
    assert (status, json.loads(out)["keys_revoked"]) == (0, 0)  # idempotent

    status, out, _ = run_cli(
        keys, monkeypatch, capsys, "--profile", "bob", "users", "force-reset", "--account", account, user
    )
    assert (status, value(out, "sessions ended"), value(out, "reset link sent")) == (0, "1", "yes")
    assert not works(stack, session)
    status, refused = login(stack, owner["email"])
    assert (status, refused["code"]) == (401, "password_reset_required")
    link = next(
        m["token"]
        for m in stack.request("GET", "/_local/outbox").json()["data"]
        if m["to"] == owner["email"] and m.get("token")
    )
    new_password = "quartz meadow lantern bicycle"
    confirmed = stack.request("POST", "/v1/password-resets/confirm", {"token": link, "new_password": new_password})
    assert confirmed.status == 204, confirmed.text
    status, fresh = login(stack, owner["email"], new_password)
    assert status == 201
    types = [e["type"] for e in operator_events(stack, fresh["token"], actor="operator:bob")]
    for kind in ("sessions.ended", "api_key.revoked", "api_keys.revoked_all", "password.reset_forced"):
        assert kind in types, types
    assert types.count("sessions.ended") == 2


def test_races_and_bad_input_through_the_operator_api(stack: LocalStack, keys: Path) -> None:
    owner, stranger = customer(stack), customer(stack)
    account = owner["account_id"]
    alice, bob = local_client("alice", None, keys), local_client("bob", None, keys)

    def race(action: Callable[[Any], Any]) -> list[Any]:
        """The action by alice and by bob at the same moment; each answer, or the problem it was refused with."""

        def attempt(client: Any) -> Any:
            try:
                return action(client)
            except Problem as refused:
                return refused

        return list(_race(lambda: attempt(alice), lambda: attempt(bob)))

    path = f"/ops/v1/accounts/{account}"
    suspended = race(lambda c: c.request("POST", f"{path}/suspend", {"reason": REASON}))
    assert sorted(r["changed"] for r in suspended) == [False, True]
    reinstated = race(lambda c: c.request("POST", f"{path}/reinstate"))
    winners = [r for r in reinstated if isinstance(r, dict)]
    losers = [r for r in reinstated if isinstance(r, Problem)]
    assert [w["status"] for w in winners] == ["active"]
    assert [(p.status, p.code) for p in losers] == [(409, "account_not_suspended")]
    assert works(stack, owner["key"])

    refusals = [
        (f"{path}/suspend", {}, 400),  # no reason
        (f"{path}/suspend", {"reason": "line\nbreak"}, 422),
        (f"{path}/suspend", {"reason": REASON, "extra": 1}, 400),
        ("/ops/v1/accounts/acct_00000000000000000000000000/suspend", {"reason": REASON}, 404),
        (f"/ops/v1/accounts/{'a' * 3000}/reinstate", None, 404),
        (f"{path}/users/{stranger['user_id']}/force-password-reset", None, 404),  # another account's user
        (f"{path}/users/{stranger['user_id']}/sessions/end", None, 404),
    ]
    for target, body, expected in refusals:
        with pytest.raises(Problem) as refused:
            alice.request("POST", target, body)
        assert refused.value.status in ((400, 422) if expected == 400 else (expected,)), (target, refused.value)
    assert works(stack, stranger["session"])  # nothing happened to the other account
    assert works(stack, owner["key"])

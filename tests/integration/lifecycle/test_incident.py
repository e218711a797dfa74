"""Operators' incident actions (logic.incident) under moto: each proven by the credentials' next request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from switchboard import clock
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import closure as closure_dal
from switchboard.dal.messages import RESUME_SK
from switchboard.logic import audit, incident
from switchboard.models.errors import Conflict, NotFound
from switchboard.models.request import RequestMeta
from tests.integration.identity.gateway import call, login
from tests.integration.identity.support import PASSWORD, last_token, mails_to
from tests.integration.lifecycle.support import World, of_account, populate
from tests.integration.moto_atomic import serialized_moto

META = RequestMeta(request_id="req-ops-1", source_ip="203.0.113.9", user_agent="switchboard-ops/test")
ACTOR = "operator:alice"


def _events(account_id: str) -> list[Any]:
    return list(audit.list_events(account_id, limit=100).data)


def _by_operator(account_id: str) -> list[str]:
    return [e.type for e in _events(account_id) if e.actor == ACTOR]


def _status(account_id: str) -> str:
    account = accounts_dal.get_account(account_id)
    assert account is not None
    return account.status


def _works(token: str) -> bool:
    answer = call("GET", "/v1/account", token=token)
    assert answer.status in (200, 401), answer.body
    return answer.status == 200


def _sessions(account_id: str) -> list[dict[str, Any]]:
    return [i for i in of_account(account_id)["Sessions"] if i["sk"] == "SESSION"]


def _user_id(token: str) -> str:
    user_id: str = call("GET", "/v1/me", token=token).body["user_id"]
    return user_id


def _race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at the same moment; each one's result, or the exception it raised."""
    results: list[Any] = [None] * len(actions)
    start = threading.Barrier(len(actions))

    def run(n: int, action: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[n] = action()
        except Exception as error:  # the losers' 409s are results too
            results[n] = error

    threads = [threading.Thread(target=run, args=(n, a)) for n, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def suspend(world: World, reason: str = "Fraud report ticket OPS-42") -> Any:
    return incident.suspend(world.account_id, actor=ACTOR, reason=reason, meta=META)


def reinstate(world: World) -> Any:
    return incident.reinstate(world.account_id, actor=ACTOR, reason="Cleared", meta=META)


def test_suspension_refuses_sessions_keys_and_logins_on_the_next_request_only_in_that_account(
    identity: dict[str, str],
) -> None:
    world, other = populate("owner@suspended.example"), populate("owner@bystander.example", "Bystander")
    assert all(_works(t) for t in (world.owner, world.admin, world.key))

    out = suspend(world)

    assert (out.status, out.changed, out.sessions_ended) == ("suspended", True, 2)
    assert _status(world.account_id) == "suspended"
    for token in (world.owner, world.admin, world.key):
        assert not _works(token)
    assert _sessions(world.account_id) == []  # deleted, not merely refused (R22)
    refused = call("POST", "/v1/sessions", {"email": world.email, "password": PASSWORD})
    assert (refused.status, refused.body["code"]) == (401, "account_unavailable")
    assert all(_works(t) for t in (other.owner, other.admin, other.key))  # another account is untouched
    assert _by_operator(other.account_id) == []
    suspended = next(e for e in _events(world.account_id) if e.type == "account.suspended")
    assert (suspended.actor, suspended.data) == (ACTOR, {"reason": "Fraud report ticket OPS-42", "sessions_ended": 2})
    assert (suspended.source_ip, suspended.request_id) == ("203.0.113.9", "req-ops-1")
    ended = [e for e in _events(world.account_id) if e.type == "session.ended" and e.actor == ACTOR]
    assert {e.data["reason"] for e in ended} == {"account_suspended"} and len(ended) == 2
    notice = mails_to(world.email)[-1]
    assert "suspended" in notice.subject
    assert "Fraud report ticket OPS-42" in notice.body
    assert mails_to(world.admin_email)[-1].subject != notice.subject  # the owners are told, not every member


def test_reinstatement_brings_keys_and_logins_back_but_no_old_session(identity: dict[str, str]) -> None:
    world = populate("owner@reinstated.example")
    suspend(world)

    out = reinstate(world)

    assert (out.status, out.changed) == ("active", True)
    assert _works(world.key)  # keys were refused, not revoked
    assert not _works(world.owner) and not _works(world.admin)  # sessions ended with the suspension stay ended
    owner = login(world.email)
    page = call("GET", "/v1/audit-events", token=owner, query={"limit": "100"})
    assert page.status == 200, page.body
    mine = [(e["type"], e["data"].get("reason")) for e in page.body["data"] if e["actor"] == ACTOR]
    assert ("account.suspended", "Fraud report ticket OPS-42") in mine
    assert ("account.reinstated", "Cleared") in mine
    assert [m.subject for m in mails_to(world.email)][-2:] == [
        "Switchboard: your account was suspended",
        "Switchboard: your account was reinstated",
    ]
    resume = [i for i in of_account(world.account_id)["Messaging"] if i["sk"] == RESUME_SK]
    assert len(resume) == 1  # the release job hands back what was held on its next run


def test_suspend_twice_changes_nothing_the_second_time(identity: dict[str, str]) -> None:
    world = populate("owner@twice.example")
    first, second = suspend(world), suspend(world, reason="Another reason")
    assert (first.changed, second.changed, second.status) == (True, False, "suspended")
    assert _by_operator(world.account_id).count("account.suspended") == 1


def test_impossible_transitions_are_409_and_unknown_ids_404(identity: dict[str, str]) -> None:
    world = populate("owner@transitions.example")
    with pytest.raises(Conflict) as active:
        reinstate(world)
    assert (active.value.status, active.value.instance_code) == (409, "account_not_suspended")
    now = int(clock.timestamp())
    assert closure_dal.mark_pending(world.account_id, now=now, purge_after=now + 3600)
    with pytest.raises(Conflict) as closing:
        suspend(world)
    assert (closing.value.status, closing.value.instance_code) == (409, "account_not_active")
    with pytest.raises(Conflict) as still_closing:
        reinstate(world)
    assert still_closing.value.instance_code == "account_not_suspended"
    assert _status(world.account_id) == "pending_deletion"
    for action in (
        lambda: incident.suspend("acct_unknown", actor=ACTOR, reason="Nope nope", meta=META),
        lambda: incident.reinstate("acct_unknown", actor=ACTOR, reason=None, meta=META),
        lambda: incident.revoke_keys("acct_unknown", actor=ACTOR, reason=None, meta=META),
        lambda: incident.end_sessions("acct_unknown", actor=ACTOR, reason=None, meta=META),
        lambda: incident.end_sessions(world.account_id, actor=ACTOR, user_id="usr_x", reason=None, meta=META),
        lambda: incident.force_password_reset(world.account_id, "usr_x", actor=ACTOR, reason=None, meta=META),
    ):
        with pytest.raises(NotFound):
            action()


def test_a_user_of_another_account_is_404(identity: dict[str, str]) -> None:
    world, other = populate("owner@mine.example"), populate("owner@theirs.example", "Theirs")
    stranger = _user_id(other.owner)
    with pytest.raises(NotFound):
        incident.force_password_reset(world.account_id, stranger, actor=ACTOR, reason=None, meta=META)
    with pytest.raises(NotFound):
        incident.end_sessions(world.account_id, actor=ACTOR, user_id=stranger, reason=None, meta=META)
    assert _works(other.owner)


def test_concurrent_suspensions_and_reinstatements_have_one_winner(identity: dict[str, str]) -> None:
    world = populate("owner@racing.example")
    with serialized_moto():
        suspended = _race(lambda: suspend(world), lambda: suspend(world), lambda: suspend(world))
    assert sorted(r.changed for r in suspended) == [False, False, True]
    assert _by_operator(world.account_id).count("account.suspended") == 1
    with serialized_moto():
        reinstated = _race(lambda: reinstate(world), lambda: reinstate(world))
    winners = [r for r in reinstated if not isinstance(r, Exception)]
    losers = [r for r in reinstated if isinstance(r, Exception)]
    assert [w.status for w in winners] == ["active"]
    assert [(type(x), x.instance_code) for x in losers] == [(Conflict, "account_not_suspended")]
    assert _by_operator(world.account_id).count("account.reinstated") == 1
    assert _status(world.account_id) == "active"


def test_end_sessions_of_an_account_or_of_one_user(identity: dict[str, str]) -> None:
    world = populate("owner@sessions.example")
    admin_id = _user_id(world.admin)

    one = incident.end_sessions(world.account_id, actor=ACTOR, user_id=admin_id, reason=None, meta=META)

    assert (one.users, one.sessions_ended) == (1, 1)
    assert not _works(world.admin)
    assert _works(world.owner) and _works(world.key)

    every = incident.end_sessions(world.account_id, actor=ACTOR, reason="Token leak", meta=META)

    assert (every.users, every.sessions_ended) == (2, 1)  # the owner's; the invitee never joined
    assert not _works(world.owner)
    assert _works(world.key)  # keys are another command
    assert _works(login(world.email))  # a new login works: nothing is suspended
    again = incident.end_sessions(world.account_id, actor=ACTOR, user_id=admin_id, reason=None, meta=META)
    assert again.sessions_ended == 0  # idempotent
    assert _by_operator(world.account_id).count("sessions.ended") == 3
    assert "logged out" in mails_to(world.admin_email)[-1].subject


def test_revoke_all_keys_refuses_them_on_the_next_request(identity: dict[str, str]) -> None:
    world = populate("owner@keys.example")
    second = call("POST", "/v1/api-keys", {"name": "two", "role": "viewer"}, token=world.owner)
    assert second.status == 201, second.body

    out = incident.revoke_keys(world.account_id, actor=ACTOR, reason="Leaked in a repo", meta=META)

    assert sorted(out.key_ids) == sorted([world.key_id, second.body["id"]]) and out.keys_revoked == 2
    assert not _works(world.key) and not _works(second.body["key"])
    assert _works(world.owner)
    assert call("GET", "/v1/api-keys", token=world.owner).body["data"] == []
    assert incident.revoke_keys(world.account_id, actor=ACTOR, reason=None, meta=META).keys_revoked == 0
    types = _by_operator(world.account_id)
    assert (types.count("api_key.revoked"), types.count("api_keys.revoked_all")) == (2, 2)
    assert "API keys were revoked" in mails_to(world.email)[-1].subject
    fresh = call("POST", "/v1/api-keys", {"name": "new", "role": "developer"}, token=login(world.email))
    assert fresh.status == 201 and _works(fresh.body["key"])


def test_force_password_reset_ends_sessions_and_requires_the_e_mailed_reset(identity: dict[str, str]) -> None:
    world = populate("owner@forced.example")
    owner_id = _user_id(world.owner)

    out = incident.force_password_reset(world.account_id, owner_id, actor=ACTOR, reason="Phish", meta=META)

    assert (out.changed, out.sessions_ended, out.link_sent) == (True, 1, True)
    assert not _works(world.owner)
    assert _works(world.admin)  # only that user
    refused = call("POST", "/v1/sessions", {"email": world.email, "password": PASSWORD})
    assert (refused.status, refused.body["code"]) == (401, "password_reset_required")
    subjects = [m.subject for m in mails_to(world.email)][-2:]
    assert subjects == ["Switchboard: reset your password"] * 2  # the notice, then the link
    repeat = incident.force_password_reset(world.account_id, owner_id, actor=ACTOR, reason=None, meta=META)
    assert (repeat.changed, repeat.link_sent) == (False, False)  # a link is pending: none more
    new_password = "quartz meadow lantern bicycle"
    confirmed = call(
        "POST", "/v1/password-resets/confirm", {"token": last_token(world.email), "new_password": new_password}
    )
    assert confirmed.status == 204, confirmed.body
    assert call("POST", "/v1/sessions", {"email": world.email, "password": new_password}).status == 201
    types = _by_operator(world.account_id)
    assert types.count("password.reset_forced") == 2
    assert "password.reset_requested" in types  # the link was issued in the operator's name

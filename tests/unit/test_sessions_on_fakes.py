"""Session rules (logic.sessions) on in-memory repositories: no AWS, milliseconds per test.

The same rules through the API and DynamoDB (moto) are tests/integration/identity/test_sessions.py;
tests/integration/test_session_store_contract.py proves the fake keeps dal.sessions' rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import clock, settings
from switchboard.auth import Principal
from switchboard.crypto import tokens
from switchboard.dal.sessions import Session
from switchboard.logic import sessions
from switchboard.models.errors import NotFound
from switchboard.models.request import RequestMeta
from tests.fakes.identity import InMemoryDirectory, InMemorySessions, RecordingAudit, session_principal

ACCOUNT = "acct_a"
USER = "usr_owner"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest/1")


class World:
    """One verified owner of an active account, its sessions and what was audited."""

    def __init__(self) -> None:
        self.repo = InMemorySessions()
        self.directory = InMemoryDirectory()
        self.account = self.directory.add_account(ACCOUNT, plan="pro")
        self.user = self.directory.add_user(ACCOUNT, USER)
        self.trail = RecordingAudit()

    def login(self) -> tuple[str, Session]:
        clock.advance(1)  # ids sort by creation time: one login a second keeps "oldest" well defined
        return sessions.create_session(self.user, META, repo=self.repo, trail=self.trail)

    def ports(self) -> dict[str, Any]:
        return {"repo": self.repo, "trail": self.trail}

    def resolve(self, token: str) -> dict[str, str] | None:
        return sessions.resolve(token, repo=self.repo, directory=self.directory, trail=self.trail)

    def principal(self, session: Session) -> Principal:
        """The caller as the authorizer passes it on for this session."""
        return session_principal(
            session.account_id, session.user_id, session_id=session.session_id, plan="pro", auth_at=session.auth_at
        )

    def ended(self) -> list[tuple[str, object]]:
        return [(e.target["session_id"], e.data["reason"]) for e in self.trail.events if e.type == "session.ended"]


@pytest.fixture
def world() -> World:
    return World()


def test_a_new_session_keeps_only_the_tokens_digest_and_seals_its_details(world: World) -> None:
    token, session = world.login()
    now = int(clock.timestamp())
    assert token.startswith(tokens.SESSION_PREFIX)
    assert list(world.repo.sessions) == [tokens.digest(token)]  # the token itself is stored nowhere
    assert token not in repr(world.repo.sessions)
    assert (session.created_at, session.last_seen_at, session.auth_at) == (now, now, now)
    assert session.expires_at == now + sessions.ABSOLUTE_S
    assert world.repo.open_field(session, "ip") == "203.0.113.9"
    assert world.repo.open_field(session, "user_agent") == "pytest/1"
    [created] = world.trail.events
    assert (created.type, created.actor) == ("session.created", USER)
    assert created.target == {"session_id": session.session_id}


def test_a_live_token_resolves_to_its_user_and_session(world: World) -> None:
    token, session = world.login()
    assert world.resolve(token) == {
        "account_id": ACCOUNT,
        "principal": USER,
        "role": "owner",
        "credential": "session",
        "session_id": session.session_id,
        "key_id": "",
        "plan": "pro",
        "mode": "test" if settings.get().rules.test_mode else "live",  # the stage's, not the session's
        "auth_at": str(session.auth_at),
    }
    assert world.resolve(token + "x") is None
    assert world.resolve(tokens.new_token(tokens.SESSION_PREFIX)) is None


def test_last_seen_is_written_at_most_once_a_minute(world: World) -> None:
    token, session = world.login()
    clock.advance(sessions.TOUCH_EVERY_S - 1)
    assert world.resolve(token) is not None
    assert world.repo.sessions[session.token_digest].last_seen_at == session.created_at
    clock.advance(1)
    assert world.resolve(token) is not None
    assert world.repo.sessions[session.token_digest].last_seen_at == session.created_at + sessions.TOUCH_EVERY_S


def test_an_idle_session_expires_after_thirty_minutes_and_is_ended(world: World) -> None:
    token, session = world.login()
    clock.advance(sessions.IDLE_S - 1)
    assert world.resolve(token) is not None  # and its use moves last_seen
    clock.advance(sessions.IDLE_S - 1)
    assert world.resolve(token) is not None
    clock.advance(sessions.IDLE_S)
    assert world.resolve(token) is None
    assert world.repo.sessions == {}
    assert world.ended() == [(session.session_id, "expired")]
    assert world.resolve(token) is None and world.ended() == [(session.session_id, "expired")]


def test_an_active_session_still_ends_twelve_hours_after_login(world: World) -> None:
    token, session = world.login()
    for _ in range(sessions.ABSOLUTE_S // (20 * 60) - 1):
        clock.advance(20 * 60)
        assert world.resolve(token) is not None  # never idle
    clock.advance(sessions.ABSOLUTE_S - (int(clock.timestamp()) - session.created_at))
    assert world.resolve(token) is None
    assert world.ended() == [(session.session_id, "expired")]


def test_the_eleventh_session_evicts_the_oldest(world: World) -> None:
    made = [world.login()[1] for _ in range(sessions.MAX_SESSIONS + 1)]
    kept = [s.session_id for s in world.repo.user_sessions(ACCOUNT, USER)]
    assert kept == [s.session_id for s in made[1:]]
    assert world.ended() == [(made[0].session_id, "evicted")]


def test_a_session_dies_with_its_users_standing(world: World) -> None:
    token, session = world.login()
    world.directory.set_user(ACCOUNT, USER, sessions_not_before=session.created_at + 1)  # a reset after this login
    assert world.resolve(token) is None
    world.directory.set_user(ACCOUNT, USER, sessions_not_before=session.created_at)
    assert world.resolve(token) is not None
    world.directory.set_user(ACCOUNT, USER, email_verified=False)
    assert world.resolve(token) is None
    world.directory.set_user(ACCOUNT, USER, email_verified=True)
    world.directory.set_account(ACCOUNT, status="suspended")
    assert world.resolve(token) is None
    world.directory.set_account(ACCOUNT, status="active")
    del world.directory.users[(ACCOUNT, USER)]
    assert world.resolve(token) is None


def test_ending_a_session_revokes_it_at_once_and_only_the_callers_own(world: World) -> None:
    token_a, a = world.login()
    token_b, b = world.login()
    me = world.principal(a)
    sessions.end(me, b.session_id, META, repo=world.repo, trail=world.trail)
    assert world.resolve(token_b) is None and world.resolve(token_a) is not None
    stranger = world.directory.add_user(ACCOUNT, "usr_other")
    _, theirs = sessions.create_session(stranger, META, repo=world.repo, trail=world.trail)
    for session_id in (theirs.session_id, b.session_id, "ses_missing"):
        with pytest.raises(NotFound):
            sessions.end(me, session_id, META, repo=world.repo, trail=world.trail)
    sessions.end(me, a.session_id, META, repo=world.repo, trail=world.trail)
    assert world.resolve(token_a) is None
    assert world.ended() == [(b.session_id, "revoked"), (a.session_id, "logout")]
    assert [s.session_id for s in world.repo.sessions.values()] == [theirs.session_id]


def test_ending_all_keeps_only_the_named_session(world: World) -> None:
    made = [world.login() for _ in range(3)]
    keep = made[1][1].session_id
    assert sessions.end_all(ACCOUNT, USER, reason="password_changed", meta=META, keep=keep, **world.ports()) == 2
    assert [world.resolve(token) is not None for token, _ in made] == [False, True, False]
    assert sorted(world.ended()) == sorted((s.session_id, "password_changed") for _, s in made if s.session_id != keep)
    assert sessions.end_all(ACCOUNT, USER, reason="logout_all", meta=None, **world.ports()) == 1
    assert world.repo.sessions == {}


def test_reauthentication_moves_auth_at_on_the_same_session(world: World) -> None:
    token, session = world.login()
    clock.advance(600)
    at = sessions.reauthenticated(world.principal(session), META, repo=world.repo, trail=world.trail)
    assert at == session.created_at + 600
    context = world.resolve(token)
    assert context is not None
    assert (context["session_id"], context["auth_at"]) == (session.session_id, str(at))
    assert world.repo.sessions[session.token_digest].last_seen_at == at
    assert (world.trail.events[-1].type, world.trail.events[-1].data) == ("login.succeeded", {"reauth": True})


def test_the_session_list_is_newest_first_paged_and_marks_the_current_one(world: World) -> None:
    made = [world.login()[1] for _ in range(3)]
    me = world.principal(made[0])
    first = sessions.list_sessions(me, limit=2, repo=world.repo)
    assert [s.id for s in first.data] == [made[2].session_id, made[1].session_id]
    assert first.next_cursor is not None
    rest = sessions.list_sessions(me, limit=2, cursor=first.next_cursor, repo=world.repo)
    assert [s.id for s in rest.data] == [made[0].session_id] and rest.next_cursor is None
    [current] = rest.data
    assert (current.current, current.ip, current.user_agent) == (True, "203.0.113.9", "pytest/1")
    assert not any(s.current for s in first.data)

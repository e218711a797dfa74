"""One contract, two implementations: InMemorySessions keeps sessions as dal.sessions does under moto.

The logic tests on the fake (tests/unit/test_sessions_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.exceptions import InvalidTag
from pynamodb.exceptions import PutError, UpdateError

from switchboard.crypto import envelope
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.sessions import Session
from switchboard.logic.sessions import SessionStore
from tests.fakes import contract
from tests.fakes.identity import InMemorySessions, SealedElsewhere

ACCOUNT = "acct_contract"
USER = "usr_contract"


def _dynamodb() -> SessionStore:
    envelope.create_key(ACCOUNT)  # sealing needs the account's key
    return sessions_dal


@pytest.fixture(params=contract.SIDES)
def repo(request: pytest.FixtureRequest) -> SessionStore:
    return contract.side(request, InMemorySessions, _dynamodb)


def session(n: int, *, user: str = USER, at: int = 1_000) -> Session:
    # digest, id, account, user; created, last seen and authenticated at `at`; expiring an hour later
    return Session(f"digest{n:04d}", f"ses_{n:04d}", ACCOUNT, user, at, at, at, at + 3600)


def test_a_session_is_found_by_its_digest_with_its_sealed_details(repo: SessionStore) -> None:
    stored = repo.put_session(session(1), ip="203.0.113.9", user_agent="pytest/1")
    assert dataclasses.replace(stored, ip_sealed=None, user_agent_sealed=None) == session(1)
    assert repo.get_session("digest0001") == stored
    assert repo.get_session("digest9999") is None
    assert (repo.open_field(stored, "ip"), repo.open_field(stored, "user_agent")) == ("203.0.113.9", "pytest/1")
    with pytest.raises((PutError, ValueError)):  # a digest is never overwritten
        repo.put_session(dataclasses.replace(session(1), session_id="ses_other"))
    assert repo.get_session("digest0001") == stored
    bare = repo.put_session(session(2))
    assert (bare.ip_sealed, repo.open_field(bare, "ip"), repo.open_field(bare, "user_agent")) == (None, "", "")


def test_a_sealed_detail_opens_only_on_its_own_session(repo: SessionStore) -> None:
    first = repo.put_session(session(1), ip="203.0.113.9")
    second = repo.put_session(session(2), ip="198.51.100.7")
    with pytest.raises((InvalidTag, SealedElsewhere)):
        repo.open_field(dataclasses.replace(second, ip_sealed=first.ip_sealed), "ip")
    with pytest.raises((InvalidTag, SealedElsewhere)):  # another field's associated data
        repo.open_field(dataclasses.replace(first, user_agent_sealed=first.ip_sealed), "user_agent")


def test_a_users_sessions_are_listed_oldest_first_and_only_theirs(repo: SessionStore) -> None:
    for n in (3, 1, 2):
        repo.put_session(session(n))
    repo.put_session(session(4, user="usr_other"))
    assert [s.session_id for s in repo.user_sessions(ACCOUNT, USER)] == ["ses_0001", "ses_0002", "ses_0003"]
    assert [s.session_id for s in repo.user_sessions(ACCOUNT, "usr_other")] == ["ses_0004"]
    assert repo.user_sessions("acct_other", USER) == []


def test_touch_and_reauthentication_move_only_their_times(repo: SessionStore) -> None:
    stored = repo.put_session(session(1))
    repo.touch(stored, 1_100)
    assert repo.get_session("digest0001") == dataclasses.replace(stored, last_seen_at=1_100)
    repo.set_auth_at(stored, 1_200)
    assert repo.get_session("digest0001") == dataclasses.replace(stored, last_seen_at=1_200, auth_at=1_200)


def test_a_deleted_session_is_gone_and_no_touch_brings_it_back(repo: SessionStore) -> None:
    stored = repo.put_session(session(1))
    repo.delete_session(stored)
    repo.delete_session(stored)  # idempotent
    repo.touch(stored, 1_100)  # a concurrent logout wins
    assert repo.get_session("digest0001") is None
    assert repo.user_sessions(ACCOUNT, USER) == []
    with pytest.raises((UpdateError, KeyError)):  # a re-authentication needs its session
        repo.set_auth_at(stored, 1_200)
    assert repo.get_session("digest0001") is None

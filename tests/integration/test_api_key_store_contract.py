"""One contract, two implementations: InMemoryApiKeys keeps API keys as dal.api_keys does under moto.

The logic tests on the fake (tests/unit/test_api_keys_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

import dataclasses

import pytest
from pynamodb.exceptions import TransactWriteError

from switchboard import clock
from switchboard.dal import api_keys as keys_dal
from switchboard.dal import caps as caps_dal
from switchboard.dal.api_keys import ApiKey
from switchboard.logic.api_keys import KeyStore
from tests.fakes import contract
from tests.fakes.identity import InMemoryApiKeys

ACCOUNT = "acct_contract"


def _dynamodb() -> KeyStore:
    return keys_dal


@pytest.fixture(params=contract.SIDES)
def repo(request: pytest.FixtureRequest) -> KeyStore:
    return contract.side(request, InMemoryApiKeys, _dynamodb)


def key(n: int, *, account_id: str = ACCOUNT, life_s: int = 3600) -> ApiKey:
    now = int(clock.timestamp())
    return ApiKey(
        key_id=f"key_{n:04d}",
        account_id=account_id,
        name=f"key {n}",
        role="developer",
        mode="test",
        secret_hash=f"hmac{n}",
        pepper_version="v1",
        created_by="usr_owner",
        created_at=now,
        expires_at=now + life_s,
        lifetime_ends_at=now + life_s,
    )


def test_a_stored_key_is_found_by_account_and_by_id_alone(repo: KeyStore) -> None:
    made = key(1)
    stored = repo.put(made, cap=5)
    assert stored.cap_slot and dataclasses.replace(stored, cap_slot=None) == made
    assert repo.get(ACCOUNT, "key_0001") == stored
    assert repo.find("key_0001") == stored
    assert repo.get("acct_other", "key_0001") is None
    assert repo.get(ACCOUNT, "key_9999") is None and repo.find("key_9999") is None
    with pytest.raises((TransactWriteError, ValueError)):  # a key id is never overwritten
        repo.put(dataclasses.replace(made, name="again"), cap=5)
    assert repo.get(ACCOUNT, "key_0001") == stored


def test_an_accounts_keys_are_listed_oldest_first_and_only_its_own(repo: KeyStore) -> None:
    for n in (3, 1, 2):
        repo.put(key(n), cap=5)
    repo.put(key(4, account_id="acct_other"), cap=5)
    assert [k.key_id for k in repo.list_keys(ACCOUNT)] == ["key_0001", "key_0002", "key_0003"]
    assert [k.key_id for k in repo.list_keys("acct_other")] == ["key_0004"]


def test_the_cap_counts_live_keys_and_a_shortened_or_deleted_key_frees_its_place(repo: KeyStore) -> None:
    first = repo.put(key(1), cap=2)
    second = repo.put(key(2), cap=2)
    with pytest.raises(caps_dal.CapReached):
        repo.put(key(3), cap=2)
    assert repo.get(ACCOUNT, "key_0003") is None and repo.find("key_0003") is None
    now = int(clock.timestamp())
    repo.shorten(first, now)  # revoked: expired now, still recognised
    assert repo.get(ACCOUNT, "key_0001") == dataclasses.replace(first, expires_at=now)
    third = repo.put(key(3), cap=2)
    repo.delete(second)
    repo.put(key(4), cap=2)
    with pytest.raises(caps_dal.CapReached):
        repo.put(key(5), cap=2)
    assert [k.key_id for k in repo.list_keys(ACCOUNT)] == ["key_0001", "key_0003", "key_0004"]
    assert repo.find("key_0002") is None and repo.get(ACCOUNT, third.key_id) == third


def test_a_life_only_ever_shortens_and_a_use_is_recorded(repo: KeyStore) -> None:
    stored = repo.put(key(1), cap=5)
    repo.shorten(stored, stored.expires_at + 600)  # never longer
    assert repo.get(ACCOUNT, "key_0001") == stored
    repo.shorten(stored, stored.expires_at - 600)
    repo.touch(stored, stored.created_at + 5)
    expected = dataclasses.replace(stored, expires_at=stored.expires_at - 600, last_used_at=stored.created_at + 5)
    assert repo.get(ACCOUNT, "key_0001") == expected == repo.find("key_0001")


def test_a_deleted_key_is_gone_and_no_use_brings_it_back(repo: KeyStore) -> None:
    stored = repo.put(key(1), cap=5)
    repo.delete(stored)
    repo.touch(stored, stored.created_at + 5)  # a use racing the revocation
    assert repo.get(ACCOUNT, "key_0001") is None and repo.find("key_0001") is None
    assert repo.list_keys(ACCOUNT) == []

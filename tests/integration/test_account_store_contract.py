"""One contract, two implementations: InMemoryDirectory keeps accounts and users as dal.accounts does under moto.

The logic tests on the fake (tests/unit/test_*_on_fakes.py) rely on exactly these behaviours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from pynamodb.exceptions import UpdateError

from switchboard.crypto import envelope
from switchboard.dal import accounts as accounts_dal
from switchboard.dal.accounts import Account, EmailOwner, User
from switchboard.logic.ports import AccountStore
from tests.fakes import contract
from tests.fakes.identity import InMemoryDirectory, SealedElsewhere

ACCOUNT = "acct_contract"


@pytest.fixture(params=contract.SIDES)
def repo(request: pytest.FixtureRequest) -> AccountStore:
    return contract.side(request, InMemoryDirectory, _dal_with_key)


def _dal_with_key() -> AccountStore:
    """dal.accounts on moto, ACCOUNT's data key made (sealing needs it)."""
    envelope.create_key(ACCOUNT)
    return accounts_dal


def stored_user(repo: AccountStore, user_id: str, **fields: Any) -> User:
    """A user of ACCOUNT (the account made with its first user) with the e-mail `<user id>@example.com`."""
    email = f"{user_id}@example.com"
    if isinstance(repo, InMemoryDirectory):
        if ACCOUNT not in repo.accounts:
            repo.add_account(ACCOUNT)
        return repo.add_user(ACCOUNT, user_id, email=email, **fields)
    user = accounts_dal.new_user(
        ACCOUNT,
        user_id,
        email=email,
        **{
            "email_index": f"idx:{email}",
            "role": "owner",
            "password_phc": "phc1",
            "pepper_version": "v1",
            "created_at": 0,
            "password_changed_at": 0,
            "email_verified": True,
        }
        | fields,
    )
    if accounts_dal.get_account(ACCOUNT) is None:
        accounts_dal.create_account(accounts_dal.new_account(ACCOUNT, name="Acme"), user, [])
    else:  # a later member, written straight to the table with their e-mail lookup (dal.members.join's items)
        accounts_dal.user_item(user).save()
        accounts_dal.EmailItem(
            f"EMAIL#{user.email_index}", accounts_dal.EMAIL_SK, account_id=ACCOUNT, user_id=user_id
        ).save()
    return user


def test_an_account_and_its_users_read_back_as_stored(repo: AccountStore) -> None:
    user = stored_user(repo, "usr_1", role="admin")
    assert repo.get_user(ACCOUNT, "usr_1") == user
    assert (user.role, user.email_verified, user.failed_logins, user.recovery_codes) == ("admin", True, 0, ())
    assert repo.get_user(ACCOUNT, "usr_missing") is None
    assert repo.get_user("acct_other", "usr_1") is None
    assert repo.get_account(ACCOUNT) == Account(account_id=ACCOUNT, name="Acme", plan="free", status="active")
    assert repo.get_account("acct_other") is None
    assert repo.find_by_email(user.email_index) == EmailOwner(account_id=ACCOUNT, user_id="usr_1")
    assert repo.find_by_email("idx:nobody@example.com") is None
    assert repo.open_field(user, "email") == "usr_1@example.com"


def test_an_update_changes_what_it_names_removes_none_and_never_creates(repo: AccountStore) -> None:
    user = stored_user(repo, "usr_1")
    updated = repo.update_user(user, failed_logins=3, reset_digest="digest", known_ips=("ip1", "ip2"))
    assert updated == dataclasses.replace(user, failed_logins=3, reset_digest="digest", known_ips=("ip1", "ip2"))
    assert repo.get_user(ACCOUNT, "usr_1") == updated
    cleared = repo.update_user(updated, reset_digest=None, known_ips=None)
    assert cleared == dataclasses.replace(user, failed_logins=3)
    assert repo.get_user(ACCOUNT, "usr_1") == cleared
    ghost = dataclasses.replace(user, user_id="usr_ghost")
    with pytest.raises((UpdateError, KeyError)):
        repo.update_user(ghost, role="owner")
    assert repo.get_user(ACCOUNT, "usr_ghost") is None


def test_failures_count_up_and_a_reset_is_required_once(repo: AccountStore) -> None:
    user = stored_user(repo, "usr_1")
    assert [repo.add_failed_login(user) for _ in range(3)] == [1, 2, 3]
    assert repo.require_reset_once(user) is True
    assert repo.require_reset_once(user) is False  # one e-mail
    stored = repo.get_user(ACCOUNT, "usr_1")
    assert stored is not None and (stored.failed_logins, stored.reset_required) == (3, True)


def test_an_address_is_proven_once(repo: AccountStore) -> None:
    user = stored_user(repo, "usr_1", email_verified=False)
    assert repo.prove_email(user, email_verified=True, password_phc="phc2", reset_digest=None) is True
    assert repo.prove_email(user, email_verified=True, password_phc="phc3") is False  # another link won
    stored = repo.get_user(ACCOUNT, "usr_1")
    assert stored is not None and (stored.email_verified, stored.password_phc) == (True, "phc2")


def test_a_totp_step_and_a_recovery_code_are_spent_once(repo: AccountStore) -> None:
    user = stored_user(repo, "usr_1", recovery_codes=("code_a", "code_b", "code_c"))
    assert [repo.spend_totp_step(user, step) for step in (5, 5, 4, 6)] == [True, False, False, True]
    assert repo.spend_recovery_code(user, 1, "code_b") is True
    assert repo.spend_recovery_code(user, 1, "code_b") is False  # a concurrent use took it first
    assert repo.spend_recovery_code(user, 7, "code_a") is False
    stored = repo.get_user(ACCOUNT, "usr_1")
    assert stored is not None and (stored.totp_last_step, stored.recovery_codes) == (6, ("code_a", "code_c"))


def test_a_sealed_field_opens_only_on_its_own_user_and_field(repo: AccountStore) -> None:
    first, second = stored_user(repo, "usr_1"), stored_user(repo, "usr_2")
    first = repo.update_user(first, totp_pending=repo.seal(first, "totp_pending", "SEED"))
    assert repo.open_field(first, "totp_pending") == "SEED"
    assert repo.open_field(repo.get_user(ACCOUNT, "usr_1") or first, "totp_pending") == "SEED"
    with pytest.raises((InvalidTag, SealedElsewhere)):  # another user's associated data
        repo.open_field(dataclasses.replace(second, totp_pending=first.totp_pending), "totp_pending")
    with pytest.raises((InvalidTag, SealedElsewhere)):  # another field's
        repo.open_field(dataclasses.replace(first, totp_seed=first.totp_pending), "totp_seed")
    with pytest.raises((InvalidTag, SealedElsewhere)):
        repo.open_field(dataclasses.replace(second, email_sealed=first.email_sealed), "email")

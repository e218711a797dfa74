"""The TOTP second factor (logic.mfa, R14) on the in-memory accounts repository: no AWS, milliseconds per test.

The same rules through the API and DynamoDB (moto) are tests/integration/identity; the accounts contract
(tests/integration/test_account_store_contract.py) proves the fake spends a step once as dal.accounts does.
"""

from __future__ import annotations

import pytest

from switchboard.crypto import totp
from switchboard.dal.accounts import User
from switchboard.logic import mfa
from switchboard.models.request import RequestMeta
from tests.fakes.identity import InMemoryDirectory, SealedElsewhere

ACCOUNT = "acct_a"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest/1")


@pytest.fixture
def accounts() -> InMemoryDirectory:
    return InMemoryDirectory()


def _enrolled(accounts: InMemoryDirectory, user_id: str = "usr_owner") -> tuple[User, str]:
    """A user with TOTP on, and their seed in clear."""
    seed = totp.new_seed()
    user = accounts.add_user(ACCOUNT, user_id)
    return accounts.set_user(ACCOUNT, user_id, mfa_enabled=True, totp_seed=accounts.seal(user, "totp_seed", seed)), seed


def _check(accounts: InMemoryDirectory, user: User, code: str) -> str:
    return mfa.verify_second_factor(user, totp_code=code, recovery_code=None, meta=META, accounts=accounts)


def _reason(accounts: InMemoryDirectory, user: User, code: str) -> str:
    with pytest.raises(mfa.SecondFactorFailed) as failed:
        _check(accounts, user, code)
    return failed.value.reason


def _stored(accounts: InMemoryDirectory, user: User) -> User:
    stored = accounts.get_user(user.account_id, user.user_id)
    assert stored is not None
    return stored


def test_a_current_code_is_accepted_once_and_its_step_spent(accounts: InMemoryDirectory) -> None:
    user, seed = _enrolled(accounts)
    now = totp.current_step()
    assert _check(accounts, user, totp.code_at_step(seed, now)) == "totp"
    assert _stored(accounts, user).totp_last_step == now
    assert _reason(accounts, _stored(accounts, user), totp.code_at_step(seed, now)) == "totp_replay"


def test_only_a_later_step_in_the_window_counts_after_one_was_spent(accounts: InMemoryDirectory) -> None:
    user, seed = _enrolled(accounts)
    now = totp.current_step()
    assert _check(accounts, user, totp.code_at_step(seed, now)) == "totp"
    assert _reason(accounts, _stored(accounts, user), totp.code_at_step(seed, now - 1)) == "totp_replay"
    assert _check(accounts, _stored(accounts, user), totp.code_at_step(seed, now + 1)) == "totp"
    assert _reason(accounts, _stored(accounts, user), totp.code_at_step(seed, now + 2)) == "totp_invalid"
    assert _stored(accounts, user).totp_last_step == now + 1


def test_a_step_a_concurrent_request_spent_first_is_a_replay(accounts: InMemoryDirectory) -> None:
    user, seed = _enrolled(accounts)  # read before the other request spends the step
    now = totp.current_step()
    assert accounts.spend_totp_step(user, now)
    assert _reason(accounts, user, totp.code_at_step(seed, now)) == "totp_replay"


@pytest.mark.parametrize("code", ["000000x", "١٢٣٤٥٦", "12345", "a wrong code"])
def test_a_malformed_or_wrong_code_is_invalid_and_spends_nothing(accounts: InMemoryDirectory, code: str) -> None:
    user, seed = _enrolled(accounts)
    in_window = {totp.code_at_step(seed, totp.current_step() + delta) for delta in (-1, 0, 1)}
    wrong = code if code != "a wrong code" else next(c for c in ("000000", "111111", "222222") if c not in in_window)
    assert _reason(accounts, user, wrong) == "totp_invalid"
    assert _stored(accounts, user).totp_last_step is None


def test_no_code_at_all_asks_for_the_second_factor(accounts: InMemoryDirectory) -> None:
    user, _ = _enrolled(accounts)
    with pytest.raises(mfa.MfaRequired):
        mfa.verify_second_factor(user, totp_code=None, recovery_code=None, meta=META, accounts=accounts)


def test_a_seed_sealed_to_another_user_never_opens(accounts: InMemoryDirectory) -> None:
    victim, seed = _enrolled(accounts, "usr_victim")
    attacker, _ = _enrolled(accounts, "usr_attacker")
    planted = accounts.set_user(ACCOUNT, "usr_attacker", totp_seed=victim.totp_seed)
    with pytest.raises(SealedElsewhere):
        _check(accounts, planted, totp.code_at_step(seed, totp.current_step()))
    assert _stored(accounts, attacker).totp_last_step is None

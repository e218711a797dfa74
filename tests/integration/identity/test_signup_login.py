"""Signup, verification, login and throttling through the real handlers (R1, R2, R8, R9, R10, R11, R19)."""

import re

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from switchboard import clock
from switchboard.crypto import blind_index
from switchboard.dal import accounts as accounts_dal
from tests.integration.identity.support import (
    PASSWORD,
    call,
    last_token,
    login,
    mails_to,
    register,
    session,
    signup,
)


def _user(email: str) -> accounts_dal.User:
    lookup = accounts_dal.find_by_email(blind_index.email_index(email))
    assert lookup is not None
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id)
    assert user is not None
    return user


def test_signup_r1_creates_account_owner_and_senders(identity: dict[str, str]) -> None:
    answer = signup("Jane@Example.com ")
    assert (answer.status, answer.body) == (202, {"status": "verification_sent"})
    assert mails_to("jane@example.com")  # mail_worker created the account and sent the link
    user = _user("jane@example.com")
    assert user.user_id.startswith("usr_")
    assert user.role == "owner"
    assert not user.email_verified
    account = accounts_dal.get_account(user.account_id)
    assert account is not None
    assert account.account_id.startswith("acct_")
    assert (account.plan, account.status, account.name) == ("free", "active", "Acme Widgets")
    senders = {s.channel: s.number for s in account.senders or []}
    assert set(senders) == {"sms", "whatsapp", "voice"}
    assert len(set(senders.values())) == 3
    for number in senders.values():
        assert re.fullmatch(r"\+1555\d{7}", number)
        found = accounts_dal.find_number(number)
        assert found is not None
        assert found.account_id == account.account_id
    [mail] = mails_to("jane@example.com")
    assert re.search(r"\?token=[A-Za-z0-9_-]{43}\b", mail.body)


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("x" * 14, "password_too_short"),
        ("q" * 257, "password_too_long"),
        ("passwordpassword", "password_common"),
        ("AcmeWidgets2025!!!!!", "password_context"),
    ],
)
def test_signup_r1_r2_refuses_weak_passwords_with_a_reason(identity: dict[str, str], password: str, code: str) -> None:
    answer = signup("weak@example.com", password)
    assert answer.status == 422
    assert answer.body["code"] == code
    assert answer.body["errors"][0]["pointer"] == "/password"
    assert accounts_dal.find_by_email(blind_index.email_index("weak@example.com")) is None


def test_signup_r1_accepts_long_unicode_passphrases(identity: dict[str, str]) -> None:
    assert signup("emoji@example.com", "pass phrase 🙂 ✓ with room").status == 202
    # 256 code points, none repeating a pattern (a repeated chunk is refused as guessable: finding 7)
    longest = "y7#Lq-Pz9!wK2&m" + "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(241))
    assert signup("long@example.com", longest).status == 202


def test_signup_r8_existing_email_gets_the_same_answer_and_a_notice(identity: dict[str, str]) -> None:
    register("jane@example.com")
    first_account = _user("jane@example.com").account_id
    answer = signup("jane@example.com", "another long passphrase here")
    assert (answer.status, answer.body) == (202, {"status": "verification_sent"})
    assert _user("jane@example.com").account_id == first_account
    assert "already has one" in mails_to("jane@example.com")[-1].body


def test_signup_r8_costs_one_argon2id_for_new_and_existing_emails(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register("jane@example.com")
    counted: list[int] = []
    real = Argon2id.derive_phc_encoded

    def counting(self: Argon2id, key_material: bytes) -> str:
        counted.append(1)
        return real(self, key_material)

    monkeypatch.setattr(Argon2id, "derive_phc_encoded", counting)
    signup("new@example.com")
    new_cost = len(counted)
    counted.clear()
    signup("jane@example.com")
    assert new_cost == len(counted) == 1


def test_login_r8_unknown_and_known_emails_cost_one_argon2id_and_answer_alike(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register("jane@example.com")
    counted: list[int] = []
    real = Argon2id.verify_phc_encoded

    def counting(key_material: bytes, phc: str, secret: bytes | None = None) -> None:
        counted.append(1)
        real(key_material, phc)

    monkeypatch.setattr(Argon2id, "verify_phc_encoded", staticmethod(counting))
    unknown = login("nobody@example.com", "wrong wrong wrong wrong")
    unknown_cost = len(counted)
    counted.clear()
    known = login("jane@example.com", "wrong wrong wrong wrong", ip="198.51.100.8")
    assert unknown_cost == len(counted) == 1
    assert unknown.status == known.status == 401
    strip = {"request_id", "instance"}
    assert {k: v for k, v in unknown.body.items() if k not in strip} == {
        k: v for k, v in known.body.items() if k not in strip
    }
    assert known.body["code"] == "invalid_credentials"


def test_verification_token_is_single_use_and_expires(identity: dict[str, str]) -> None:
    signup("jane@example.com")
    token = last_token("jane@example.com")
    assert login("jane@example.com").body["code"] == "email_not_verified"
    assert call("POST", "/v1/email-verifications", {"token": token}).status == 200
    again = call("POST", "/v1/email-verifications", {"token": token})
    assert (again.status, again.body["code"]) == (400, "token_invalid")
    signup("late@example.com")
    late = last_token("late@example.com")
    clock.advance(24 * 3600 + 1)
    assert call("POST", "/v1/email-verifications", {"token": late}).status == 400


def test_login_unverified_wrong_password_is_plain_invalid_credentials(identity: dict[str, str]) -> None:
    signup("jane@example.com")
    assert login("jane@example.com", "not the password at all").body["code"] == "invalid_credentials"


def test_login_r1_r19_exact_password_only_and_fresh_tokens(identity: dict[str, str]) -> None:
    register("jane@example.com")
    first = login("jane@example.com")
    assert first.status == 201
    assert first.body["token"].startswith("sbs_")
    assert len(first.body["token"]) >= 4 + 43
    assert first.body["idle_timeout_s"] == 1800
    assert first.body["expires_at"].endswith("Z")
    assert session("jane@example.com") != first.body["token"]
    assert login("jane@example.com", PASSWORD[:-1]).status == 401
    assert login("jane@example.com", PASSWORD.upper(), ip="198.51.100.9").status == 401


def test_login_r9_lockout_holds_with_the_right_password_then_lifts(identity: dict[str, str]) -> None:
    register("jane@example.com")
    for attempt in range(10):
        ip = f"203.0.113.{attempt}"  # spread over IPs: only the per-account rule applies
        assert login("jane@example.com", "wrong password number one", ip=ip).status == 401
    locked = login("jane@example.com", ip="203.0.113.200")
    assert locked.status == 429
    assert locked.body["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert any("paused" in m.body for m in mails_to("jane@example.com"))
    clock.advance(15 * 60 + 1)
    assert login("jane@example.com", ip="203.0.113.201").status == 201


def test_login_r9_unknown_email_locks_out_identically(identity: dict[str, str]) -> None:
    for attempt in range(10):
        login("ghost@example.com", "wrong password number one", ip=f"203.0.113.{attempt}")
    locked = login("ghost@example.com", ip="203.0.113.99")
    assert (locked.status, locked.body["code"]) == (429, "too_many_attempts")


def test_login_r9_success_resets_the_account_counter_and_notifies_after_5_failures(identity: dict[str, str]) -> None:
    register("jane@example.com")
    for attempt in range(9):
        login("jane@example.com", "wrong password number one", ip=f"203.0.113.{attempt}")
    assert login("jane@example.com", ip="203.0.113.50").status == 201
    assert "after several failed attempts" in mails_to("jane@example.com")[-1].body
    for attempt in range(9):
        login("jane@example.com", "wrong password number one", ip=f"203.0.113.{100 + attempt}")
    assert login("jane@example.com", ip="203.0.113.51").status == 201


def test_login_r10_eleven_failures_over_eleven_emails_from_one_ip(identity: dict[str, str]) -> None:
    register("jane@example.com")
    for n in range(10):
        assert login(f"user{n}@example.com", "wrong password number one", ip="192.0.2.1").status == 401
    blocked = login("jane@example.com", ip="192.0.2.1")
    assert (blocked.status, blocked.body["code"]) == (429, "too_many_attempts")
    assert login("jane@example.com", ip="192.0.2.2").status == 201


def test_login_r9_100_consecutive_failures_require_a_reset(identity: dict[str, str]) -> None:
    register("jane@example.com")
    user = _user("jane@example.com")
    # 99 failures recorded as earlier windows would have; the 100th goes through the API.
    accounts_dal.update_user(user, failed_logins=99)
    assert login("jane@example.com", "wrong password number one").status == 401
    assert _user("jane@example.com").reset_required
    assert "requires a password reset" in mails_to("jane@example.com")[-1].body
    refused = login("jane@example.com", ip="198.51.100.99")
    assert (refused.status, refused.body["code"]) == (401, "password_reset_required")
    assert login("jane@example.com", "wrong password number two", ip="198.51.100.98").body["code"] == (
        "invalid_credentials"
    )


def test_login_r3_rehashes_weak_hashes_on_success(identity: dict[str, str]) -> None:
    from switchboard.crypto import passwords  # noqa: PLC0415

    register("jane@example.com")
    user = _user("jane@example.com")
    _, pepper = passwords._pepper()
    weak = Argon2id(salt=b"s" * 16, length=32, iterations=1, lanes=1, memory_cost=8192).derive_phc_encoded(
        passwords._keyed(PASSWORD, pepper)
    )
    accounts_dal.update_user(user, password_phc=weak)
    assert login("jane@example.com").status == 201
    assert _user("jane@example.com").password_phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_signup_r32_validation_refuses_unknown_fields(identity: dict[str, str]) -> None:
    answer = call(
        "POST",
        "/v1/signup",
        {"email": "x@example.com", "password": PASSWORD, "account_name": "A", "account_id": "acct_x"},
    )
    assert answer.status == 422
    assert answer.body["errors"][0]["pointer"] == "/account_id"


def test_signup_email_links_to_the_console_and_names_the_api_call(identity: dict[str, str]) -> None:
    assert signup("links@example.com").status == 202
    [mail] = mails_to("links@example.com")
    token = last_token("links@example.com")
    assert f"https://api.switchboard.example/console/verify-email?token={token}" in mail.body
    assert "POST https://api.switchboard.example/v1/email-verifications" in mail.body

"""Finding 1, account pre-hijacking: nothing set before the owner of an address proves control of it survives that
proof, and a password reset ends every other way in (R5, R6, R8).

Handlers under moto for the variants, then one run through the local stack (`python -m local`) over HTTP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from switchboard import clock, ids
from switchboard.crypto import blind_index, tokens
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import api_keys as keys_dal
from switchboard.dal import members as members_dal
from switchboard.dal import sessions as sessions_dal
from switchboard.dal.sessions import Session
from tests.e2e.conftest import E2E_ENV, LocalStack, running_stack
from tests.integration.identity import gateway
from tests.integration.identity.support import PASSWORD, call, login, mails_to, register, signup

VICTIM = "victim@example.com"
ATTACKER_PASSWORD = "attacker chose this passphrase"
VICTIM_PASSWORD = PASSWORD
TOKEN = re.compile(r"\?token=([A-Za-z0-9_-]+)")


def _links(address: str) -> list[str]:
    """Every verification or reset token e-mailed to `address`, oldest first."""
    return [m.group(1) for mail in mails_to(address) if (m := TOKEN.search(mail.body))]


def _user(address: str) -> accounts_dal.User:
    lookup = accounts_dal.find_by_email(blind_index.email_index(address))
    assert lookup is not None
    user = accounts_dal.get_user(lookup.account_id, lookup.user_id)
    assert user is not None
    return user


def _verify(token: str) -> int:
    return call("POST", "/v1/email-verifications", {"token": token}).status


# Who signs up when: the attacker first (the finding), the attacker again after the victim, or twice before.
ORDERS = {
    "attacker_first": ("attacker", "victim"),
    "attacker_after_victim": ("victim", "attacker"),
    "attacker_twice_first": ("attacker", "attacker", "victim"),
    "attacker_around_victim": ("attacker", "victim", "attacker"),
}


@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_f01_the_verified_account_carries_only_the_verifiers_signup(
    identity: dict[str, str], order: tuple[str]
) -> None:
    victim_link = None
    for who in order:
        if who == "attacker":
            assert signup(VICTIM, ATTACKER_PASSWORD, "Evil https://evil.example").status == 202
        else:
            assert signup(VICTIM, VICTIM_PASSWORD, "Victim Co").status == 202
            victim_link = _links(VICTIM)[-1]
        # Before any proof: the attacker's password opens nothing (the address is unverified).
        assert login(VICTIM, ATTACKER_PASSWORD).body["code"] in ("email_not_verified", "invalid_credentials")
    assert victim_link is not None
    assert len(_links(VICTIM)) == len(order)  # each signup's link went to the address's owner
    assert _verify(victim_link) == 200
    assert login(VICTIM, ATTACKER_PASSWORD).status == 401
    assert login(VICTIM, ATTACKER_PASSWORD).body["code"] == "invalid_credentials"
    assert login(VICTIM, VICTIM_PASSWORD).status == 201
    account = accounts_dal.get_account(_user(VICTIM).account_id)
    assert account is not None and account.name == "Victim Co"
    # Every other link (the attacker's too) is spent: no later click can set another password.
    for token in _links(VICTIM):
        assert _verify(token) == 400
    assert login(VICTIM, ATTACKER_PASSWORD).body["code"] == "invalid_credentials"
    assert login(VICTIM, VICTIM_PASSWORD).status == 201


def _plant(user: accounts_dal.User) -> tuple[str, str]:
    """What a flaw elsewhere could have left on an unverified account: a live session and an API key, a second
    owner and an invitation (written straight to the tables)."""
    now = int(clock.timestamp())
    session_token = tokens.new_token(tokens.SESSION_PREFIX)
    sessions_dal.put_session(
        Session(
            token_digest=tokens.digest(session_token),
            session_id="ses_planted",
            account_id=user.account_id,
            user_id=user.user_id,
            created_at=now,
            last_seen_at=now,
            auth_at=now,
            expires_at=now + 3600,
        )
    )
    key_id = ids.new_id("key")
    key, parts = tokens.new_api_key("test", key_id)
    secret_hash, version = tokens.hash_api_secret(parts.secret)
    keys_dal.put(
        keys_dal.ApiKey(
            key_id=key_id,
            account_id=user.account_id,
            name="planted",
            role="owner",
            mode="test",
            secret_hash=secret_hash,
            pepper_version=version,
            created_by=user.user_id,
            created_at=now,
            expires_at=now + 86400,
        ),
        cap=50,
    )
    second = accounts_dal.User(
        user_id="usr_planted",
        account_id=user.account_id,
        email_sealed=user.email_sealed,
        email_index=blind_index.email_index("second-owner@evil.example"),
        role="owner",
        password_phc=user.password_phc,
        pepper_version=user.pepper_version,
        email_verified=True,
        created_at=now,
        password_changed_at=now,
    )
    accounts_dal.user_item(second).save()
    # The planted lookup points the second address at the second owner (conditional: the address is fresh).
    accounts_dal.EmailItem(
        f"EMAIL#{second.email_index}", accounts_dal.EMAIL_SK, account_id=user.account_id, user_id="usr_planted"
    ).save(condition=accounts_dal.EmailItem.pk.does_not_exist())
    return session_token, key


@pytest.mark.parametrize("proof", ["verification", "reset"])
def test_f01_whatever_an_unverified_account_holds_dies_at_the_first_proof(identity: dict[str, str], proof: str) -> None:
    assert signup(VICTIM, ATTACKER_PASSWORD, "Evil").status == 202
    attacker_link = _links(VICTIM)[-1]
    session_token, key = _plant(_user(VICTIM))
    # Unproven: neither the session nor the key opens anything, even before the proof.
    assert call("GET", "/v1/me", token=session_token).status == 401
    assert call("GET", "/v1/api-keys", token=key).status == 401
    if proof == "verification":
        assert signup(VICTIM, VICTIM_PASSWORD, "Victim Co").status == 202
        assert _verify(_links(VICTIM)[-1]) == 200
    else:
        assert call("POST", "/v1/password-resets", {"email": VICTIM}).status == 202
        reset = _links(VICTIM)[-1]
        confirmed = call("POST", "/v1/password-resets/confirm", {"token": reset, "new_password": VICTIM_PASSWORD})
        assert confirmed.status == 204
    user = _user(VICTIM)
    assert user.email_verified
    assert sessions_dal.user_sessions(user.account_id, user.user_id) == []
    assert keys_dal.list_keys(user.account_id) == []
    assert [u.user_id for u in members_dal.users(user.account_id)] == [user.user_id]
    assert accounts_dal.find_by_email(blind_index.email_index("second-owner@evil.example")) is None
    assert call("GET", "/v1/me", token=session_token).status == 401
    assert call("GET", "/v1/api-keys", token=key).status == 401
    # The attacker's own verification link cannot bring their password back.
    assert _verify(attacker_link) == 400
    assert login(VICTIM, ATTACKER_PASSWORD).body["code"] == "invalid_credentials"
    assert login(VICTIM, VICTIM_PASSWORD).status == 201


@pytest.mark.parametrize("made_by", ["login", "second_session", "logged_out_session", "rotation"])
def test_f01_a_reset_ends_every_session_and_the_keys_made_under_the_old_password(
    identity: dict[str, str], made_by: str
) -> None:
    """Someone who knew the password (the attacker of an uncontested signup) makes a key; the owner resets."""
    register(VICTIM)
    session = login(VICTIM).body["token"]
    other = login(VICTIM).body["token"]
    maker = other if made_by in ("second_session", "logged_out_session") else session
    created = call("POST", "/v1/api-keys", {"name": "planted", "role": "owner"}, token=maker)
    assert created.status == 201, created.body
    key = created.body["key"]
    if made_by == "rotation":
        rotated = call("POST", f"/v1/api-keys/{created.body['id']}/rotate", {"grace_s": 3600}, token=maker)
        assert rotated.status == 201, rotated.body
        key = rotated.body["key"]
    if made_by == "logged_out_session":
        assert call("DELETE", "/v1/sessions/current", token=other).status == 204
    assert gateway.call("GET", "/v1/account", token=key).status == 200
    assert call("POST", "/v1/password-resets", {"email": VICTIM}).status == 202
    reset = _links(VICTIM)[-1]
    assert (
        call("POST", "/v1/password-resets/confirm", {"token": reset, "new_password": "a new passphrase for me"}).status
        == 204
    )
    for token in (session, other):
        assert call("GET", "/v1/me", token=token).status == 401
    assert gateway.call("GET", "/v1/account", token=key).status == 401
    user = _user(VICTIM)
    assert keys_dal.list_keys(user.account_id) == []
    assert login(VICTIM, "a new passphrase for me").status == 201


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("prehijack-stack"), env=E2E_ENV) as running:
        yield running


def _outbox_tokens(stack: LocalStack, address: str, *, count: int) -> list[str]:
    """The address's tokens, newest first, once `count` have arrived (the outbox waits for mail_worker only ~10 s,
    which a loaded machine can exceed)."""
    deadline = time.monotonic() + 60
    while True:
        mails = stack.request("GET", "/_local/outbox").json()["data"]  # newest first
        tokens = [m["token"] for m in mails if m["to"] == address and m.get("token")]
        if len(tokens) >= count or time.monotonic() > deadline:
            return tokens


@pytest.mark.e2e
def test_f01_end_to_end_attacker_signs_up_victim_signs_up_and_verifies(stack: LocalStack) -> None:
    victim = "victim-e2e@e2e.example"
    attacker = {"email": victim, "password": ATTACKER_PASSWORD, "account_name": "Evil"}
    assert stack.request("POST", "/v1/signup", attacker).status == 202
    [attacker_link] = _outbox_tokens(stack, victim, count=1)  # the account exists now
    # The attacker cannot get in before the owner proves the address: no session, so no key and no owner.
    refused = stack.request("POST", "/v1/sessions", {"email": victim, "password": ATTACKER_PASSWORD})
    assert (refused.status, refused.json()["code"]) == (401, "email_not_verified")
    mine = {"email": victim, "password": VICTIM_PASSWORD, "account_name": "Victim Co"}
    assert stack.request("POST", "/v1/signup", mine).status == 202
    victim_link = _outbox_tokens(stack, victim, count=2)[0]
    assert victim_link != attacker_link
    assert stack.request("POST", "/v1/email-verifications", {"token": victim_link}).status == 200
    failed = stack.request("POST", "/v1/sessions", {"email": victim, "password": ATTACKER_PASSWORD})
    assert (failed.status, failed.json()["code"]) == (401, "invalid_credentials")
    assert stack.request("POST", "/v1/email-verifications", {"token": attacker_link}).status == 400
    session = stack.request("POST", "/v1/sessions", {"email": victim, "password": VICTIM_PASSWORD})
    assert session.status == 201
    bearer = {"Authorization": f"Bearer {session.json()['token']}"}
    members = stack.request("GET", "/v1/members", headers=bearer).json()["data"]
    assert [(m["email"], m["role"]) for m in members] == [(victim, "owner")]
    assert stack.request("GET", "/v1/api-keys", headers=bearer).json()["data"] == []
    assert stack.request("GET", "/v1/account", headers=bearer).json()["name"] == "Victim Co"

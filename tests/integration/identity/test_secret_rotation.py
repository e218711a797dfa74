"""Rotating peppers and HMAC keys by version (R68): what was stored before a rotation keeps working during it."""

import json
import time
from typing import Any

import boto3
import pytest

from switchboard import clock
from switchboard.crypto import blind_index, passwords, peppers, secret_store
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import api_keys as keys_dal
from switchboard.logic import email_lookup, secret_rotation
from switchboard.models.errors import NotFound
from tests.integration.identity.gateway import call, login, register
from tests.integration.identity.support import PASSWORD, last_token, mails_to

EMAIL = "ann@example.com"
PHONE = "+14155550123"


def _user(email: str = EMAIL) -> accounts_dal.User:
    found = email_lookup.find(email)
    assert found is not None
    user = accounts_dal.get_user(found.owner.account_id, found.owner.user_id)
    assert user is not None
    return user


def _stored_peppers() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId="peppers")["SecretString"]  # pragma: allowlist secret
    )
    return value


def _email_lookups() -> list[str]:
    items = boto3.client("dynamodb").scan(TableName=accounts_dal.UserItem.Meta.table_name)["Items"]
    return sorted(i["pk"]["S"] for i in items if i["pk"]["S"].startswith("EMAIL#"))


def test_a_password_hashed_under_the_old_pepper_logs_in_and_is_rehashed_under_the_new(
    identity: dict[str, str],
) -> None:
    register(EMAIL)
    assert _user().pepper_version == "password_v1"
    rotated = secret_rotation.rotate("password-pepper")
    assert (rotated.version.name, rotated.previous) == ("password_v2", "password_v1")
    assert _stored_peppers()["password_v1"] == identity["password_v1"]  # the old version is never changed
    login(EMAIL)
    assert _user().pepper_version == "password_v2"  # rehashed at the login that proved the password
    login(EMAIL)
    wrong = {"email": EMAIL, "password": "not the password at all"}  # pragma: allowlist secret
    assert call("POST", "/v1/sessions", wrong).status == 401


def test_rotating_twice_quickly_keeps_every_version_and_lists_them_without_values(identity: dict[str, str]) -> None:
    register(EMAIL)
    first = secret_rotation.rotate("password-pepper")
    second = secret_rotation.rotate("password-pepper")
    assert (first.version.name, second.version.name, second.previous) == ("password_v2", "password_v3", "password_v2")
    stored = _stored_peppers()
    assert {"password_v1", "password_v2", "password_v3"} <= set(stored)
    login(EMAIL)  # hashed under v1, two rotations ago
    assert _user().pepper_version == "password_v3"
    listed = {s.name: s for s in secret_rotation.listing()}
    versions = listed["password-pepper"].versions
    assert [(v.name, v.current) for v in versions] == [
        ("password_v3", True),
        ("password_v2", False),
        ("password_v1", False),
    ]
    assert versions[2].created_at is None and versions[0].created_at and versions[1].created_at
    assert [v.name for v in listed["api-key-pepper"].versions] == ["api_key_v1"]
    dumped = json.dumps([s.__dict__ for s in listed.values()], default=lambda o: o.__dict__)
    assert not any(stored[k] in dumped for k in stored if k != peppers.CREATED)


def test_a_process_with_a_cached_secret_from_before_the_rotation_reloads_it_for_a_newer_version(
    identity: dict[str, str],
) -> None:
    stale = dict(_stored_peppers())
    secret_rotation.rotate("password-pepper")
    fresh = passwords.hash_password("lantern quasar velvet plumbing")  # another function, already on v2
    assert fresh.pepper_version == "password_v2"
    secret_store.forget()
    secret_store.get_json(peppers.ENV)
    [arn] = secret_store._cache
    secret_store._cache[arn] = (time.monotonic(), stale)  # this process cached the secret before the rotation
    assert passwords.verify("lantern quasar velvet plumbing", fresh)
    assert "password_v2" in secret_store.get_json(peppers.ENV)


def test_an_api_key_created_before_the_rotation_works_and_moves_to_the_new_pepper(identity: dict[str, str]) -> None:
    register(EMAIL)
    token = login(EMAIL)
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=token)
    assert created.status == 201, created.body
    key, key_id = created.body["key"], created.body["id"]
    account_id = _user().account_id
    before = keys_dal.get(account_id, key_id)
    assert before is not None and before.pepper_version == "api_key_v1"
    secret_rotation.rotate("api-key-pepper")
    secret_rotation.rotate("api-key-pepper")
    assert call("GET", "/v1/account", token=key).status == 200
    after = keys_dal.get(account_id, key_id)
    assert after is not None and after.pepper_version == "api_key_v3" and after.secret_hash != before.secret_hash
    assert call("GET", "/v1/account", token=key).status == 200  # and keeps working under the new version
    assert call("GET", "/v1/account", token=key[:-4] + "AAAA").status == 401


def test_a_session_from_before_every_rotation_stays_valid(identity: dict[str, str]) -> None:
    register(EMAIL)
    token = login(EMAIL)
    for name in secret_rotation.NAMES:
        secret_rotation.rotate(name)
    me = call("GET", "/v1/me", token=token)
    assert me.status == 200, me.body


def test_an_email_indexed_before_the_rotation_is_found_and_rekeyed_at_login(identity: dict[str, str]) -> None:
    register(EMAIL)
    v1_index = blind_index.email_index(EMAIL, "blind_index_v1")
    assert _email_lookups() == [f"EMAIL#{v1_index}"]
    secret_rotation.rotate("blind-index-key")
    found = email_lookup.find(EMAIL)
    assert found is not None and found.version == "blind_index_v1"
    # The same address signs up again: still taken (no second account under the new key's index).
    assert call("POST", "/v1/signup", {"email": EMAIL, "password": PASSWORD, "account_name": "X"}).status == 202
    assert len(_email_lookups()) == 1
    login(EMAIL)
    # Until every process has loaded v2 (its cache lives 15 min), lookups stay under v1: a process that has not
    # seen the rotation yet still finds them.
    assert _email_lookups() == [f"EMAIL#{v1_index}"]
    clock.advance(peppers.SETTLE_S + 1)
    login(EMAIL)
    v2_index = blind_index.email_index(EMAIL, "blind_index_v2")
    assert _email_lookups() == [f"EMAIL#{v2_index}"]
    user = _user()
    assert (user.email_index, user.email_index_version) == (v2_index, "blind_index_v2")
    login(EMAIL)
    assert call("POST", "/v1/password-resets", {"email": EMAIL}).status == 202
    assert "reset" in mails_to(EMAIL)[-1].subject.lower()


def test_a_known_device_is_not_new_after_the_blind_index_key_rotates(identity: dict[str, str]) -> None:
    register(EMAIL)
    login(EMAIL)  # the first login remembers this IP and device
    before = len(mails_to(EMAIL))
    secret_rotation.rotate("blind-index-key")
    clock.advance(peppers.SETTLE_S + 1)  # v2 is the version digests are written under from now on
    login(EMAIL)
    assert len(mails_to(EMAIL)) == before  # no "new login" notice: the digest under v1 still matches
    stored = _user()
    ip_under_v2 = blind_index.keyed_digest("login_ip", f"{stored.user_id}\x00198.51.100.7", "blind_index_v2")
    assert ip_under_v2 in stored.known_ips  # re-keyed under v2 at that login


def test_an_invitation_sent_before_the_rotation_is_accepted_after_it(identity: dict[str, str]) -> None:
    register(EMAIL)
    owner = login(EMAIL)
    invited = call("POST", "/v1/members", {"email": "bob@example.com", "role": "viewer"}, token=owner)
    assert invited.status == 201, invited.body
    secret_rotation.rotate("blind-index-key")
    clock.advance(peppers.SETTLE_S + 1)
    joined = call(
        "POST",
        "/v1/invitations/accept",
        {"token": last_token("bob@example.com"), "password": PASSWORD},
    )
    assert joined.status == 201, joined.body
    bob = _user("bob@example.com")
    assert bob.email_index_version == "blind_index_v2"
    login("bob@example.com")
    again = call("POST", "/v1/members", {"email": "bob@example.com", "role": "viewer"}, token=login(EMAIL))
    assert again.status == 409 and again.body["code"] == "member_exists"


def test_a_phone_number_stored_before_the_rotation_is_still_found_by_its_blind_index(identity: dict[str, str]) -> None:
    register(EMAIL)
    token = login(EMAIL)
    first = call("POST", "/v1/recipients", {"phone": PHONE}, token=token)
    assert first.status == 201, first.body
    for name in secret_rotation.NAMES:
        secret_rotation.rotate(name)
    again = call("POST", "/v1/recipients", {"phone": PHONE}, token=login(EMAIL))
    assert again.status == 409 and again.body["existing_id"] == first.body["id"]


def test_an_unknown_secret_name_is_404(identity: dict[str, str]) -> None:
    with pytest.raises(NotFound):
        secret_rotation.rotate("audit-mac-key")
    with pytest.raises(NotFound):
        secret_rotation.family("password")  # the family is not the operator's name

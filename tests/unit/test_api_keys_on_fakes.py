"""API key rules (logic.api_keys) on in-memory repositories: no AWS, milliseconds per test.

The same rules through the API and DynamoDB (moto) are tests/integration/identity/test_api_keys.py,
tests/security/test_p10_caps.py and test_f17_rotation.py; tests/integration/test_api_key_store_contract.py proves
the fake keeps dal.api_keys' rules.
"""

from __future__ import annotations

import secrets as pysecrets
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard import clock, settings
from switchboard.auth import Principal
from switchboard.crypto import secret_store, tokens
from switchboard.logic import api_keys, caps
from switchboard.models.api_keys import ApiKeyIn
from switchboard.models.errors import Forbidden, NotFound, ValidationFailed
from switchboard.models.permissions import Role
from switchboard.models.request import RequestMeta
from tests.fakes.identity import InMemoryApiKeys, InMemoryDirectory, RecordingAudit, session_principal

ACCOUNT = "acct_a"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest")
PEPPERS_ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:peppers-AbCdEf"


@pytest.fixture(autouse=True)
def _peppers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pepper secret as a warm function holds it (read once, cached): the HMAC runs for real, offline."""
    monkeypatch.setenv("PEPPERS_SECRET", PEPPERS_ARN)
    settings.reload()
    peppers = {"api_key_v1": pysecrets.token_urlsafe(32)}
    monkeypatch.setitem(secret_store._cache, PEPPERS_ARN, (time.monotonic(), peppers))


def principal(user_id: str = "usr_owner", role: str = "owner") -> Principal:
    return session_principal(ACCOUNT, user_id, role=role, plan="pro", auth_at=int(clock.timestamp()))


class World:
    """An active account with a verified owner and developer, their keys, the audit trail and the notices sent."""

    def __init__(self) -> None:
        self.repo = InMemoryApiKeys()
        self.directory = InMemoryDirectory()
        self.account = self.directory.add_account(ACCOUNT, plan="pro")
        self.owner = self.directory.add_user(ACCOUNT, "usr_owner", role="owner")
        self.developer = self.directory.add_user(ACCOUNT, "usr_dev", role="developer")
        self.trail = RecordingAudit()
        self.notified: list[str] = []
        self.ports: dict[str, Any] = {"repo": self.repo, "trail": self.trail}

    def notify(self, caller: Principal) -> None:
        self.notified.append(caller.principal)

    def create(self, caller: Principal | None = None, role: Role = Role.DEVELOPER, **body: Any) -> Any:
        clock.advance(1)  # ids sort by creation time
        given = ApiKeyIn(name=body.pop("name", "ci"), role=role, **body)
        return api_keys.create(caller or principal(), given, META, notify=self.notify, **self.ports)

    def rotate(self, key_id: str, grace_s: int) -> Any:
        clock.advance(1)
        return api_keys.rotate(principal(), key_id, grace_s, META, notify=self.notify, **self.ports)

    def resolve(self, key: str) -> dict[str, str] | None:
        return api_keys.resolve(key, META, repo=self.repo, directory=self.directory, trail=self.trail)

    def types(self) -> list[str]:
        return [e.type for e in self.trail.events]


@pytest.fixture
def world() -> World:
    return World()


def test_the_key_is_shown_once_and_only_its_hmac_is_kept(world: World) -> None:
    created = world.create(name="ci deploy")
    assert created.key.startswith(f"{created.prefix}_") and created.prefix.endswith(created.id)
    [stored] = world.repo.keys.values()
    secret = created.key.removeprefix(f"{created.prefix}_")
    assert secret not in repr(stored) and created.key not in repr(world.repo.keys)
    assert tokens.api_secret_matches(secret, stored.secret_hash, stored.pepper_version)
    listed = api_keys.list_keys(principal(), repo=world.repo)
    assert [(k.id, k.prefix, k.name, k.role, k.last_used_at) for k in listed.data] == [
        (created.id, created.prefix, "ci deploy", "developer", None)
    ]
    assert secret not in listed.model_dump_json()
    assert world.types() == ["api_key.created"] and world.trail.events[0].data == {"role": "developer"}
    assert world.notified == ["usr_owner"]


def test_a_key_resolves_to_its_account_and_role_and_nothing_else_does(world: World) -> None:
    created = world.create()
    context = world.resolve(created.key)
    assert context == {
        "account_id": ACCOUNT,
        "principal": created.id,
        "role": "developer",
        "credential": "api_key",
        "session_id": "",
        "key_id": created.id,
        "plan": "pro",
        "mode": created.prefix.split("_")[1],
        "auth_at": "",
    }
    parts = tokens.parse_api_key(created.key)
    assert parts is not None
    wrong_secret = f"{created.prefix}_{'A' * len(parts.secret)}"
    other_mode = created.key.replace(f"sb_{parts.mode}_", "sb_live_" if parts.mode == "test" else "sb_test_")
    for key in (wrong_secret, other_mode, "sb_test_key_missing_" + parts.secret, "not a key"):
        assert world.resolve(key) is None
    assert world.types() == ["api_key.created"]  # a forged key leaves nothing in the account


def test_a_use_is_recorded_at_most_once_a_minute(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The platform clock stands still between steps: a wall-clock tick must not move a use across the minute.
    frozen = int(time.time())
    monkeypatch.setattr(clock, "timestamp", lambda: frozen + clock._offset_s)
    created = world.create()
    world.resolve(created.key)
    first = world.repo.get(ACCOUNT, created.id)
    assert first is not None and first.last_used_at == int(clock.timestamp())
    clock.advance(api_keys.TOUCH_EVERY_S - 1)
    world.resolve(created.key)
    assert world.repo.get(ACCOUNT, created.id) == first
    clock.advance(1)
    world.resolve(created.key)
    again = world.repo.get(ACCOUNT, created.id)
    assert again is not None and again.last_used_at == int(clock.timestamp())


def test_a_key_never_outranks_its_creator(world: World) -> None:
    developer = principal("usr_dev", "developer")
    with pytest.raises(Forbidden) as refused:
        world.create(developer, role=Role.ADMIN)
    assert refused.value.instance_code == "role_too_high" and world.repo.keys == {}
    owners_admin_key = world.create(role=Role.ADMIN)
    with pytest.raises(Forbidden):  # nor may a developer revoke or rotate a key above them
        api_keys.revoke(developer, owners_admin_key.id, META, **world.ports)
    own = world.create(developer, role=Role.DEVELOPER)
    world.directory.set_user(ACCOUNT, "usr_dev", role="viewer")  # demoted: their keys follow on the next request
    context = world.resolve(own.key)
    assert context is not None and context["role"] == "viewer"


def test_a_creators_standing_and_the_accounts_decide_for_their_keys(world: World) -> None:
    created = world.create()
    world.directory.set_user(ACCOUNT, "usr_owner", email_verified=False)
    assert world.resolve(created.key) is None
    world.directory.set_user(ACCOUNT, "usr_owner", email_verified=True)
    world.directory.set_account(ACCOUNT, status="suspended")
    assert world.resolve(created.key) is None
    world.directory.set_account(ACCOUNT, status="active")
    del world.directory.users[(ACCOUNT, "usr_owner")]
    assert world.resolve(created.key) is None


def test_expiry_must_be_in_the_future_and_within_two_years(world: World) -> None:
    now = clock.timestamp()
    for at in (now - 1, now + api_keys.MAX_LIFETIME_S + 60):
        with pytest.raises(ValidationFailed):
            world.create(expires_at=datetime.fromtimestamp(at, UTC))
    assert world.repo.keys == {}
    default = world.create()
    [stored] = world.repo.keys.values()
    assert stored.key_id == default.id
    assert stored.expires_at == stored.lifetime_ends_at == stored.created_at + api_keys.DEFAULT_LIFETIME_S


def test_a_revoked_key_is_refused_at_once_and_its_use_audited(world: World) -> None:
    created = world.create()
    api_keys.revoke(principal(), created.id, META, **world.ports)
    assert world.resolve(created.key) is None
    assert api_keys.list_keys(principal(), repo=world.repo).data == []
    with pytest.raises(NotFound):
        api_keys.revoke(principal(), created.id, META, **world.ports)
    assert world.types() == ["api_key.created", "api_key.revoked", "api_key.refused"]
    refused = world.trail.events[-1]
    assert (refused.outcome, refused.target, refused.data) == (
        "denied",
        {"key_id": created.id},
        {"reason": "revoked_or_expired"},
    )


def test_rotation_gives_a_fresh_key_with_the_old_lifetime_and_a_grace_that_only_shortens(world: World) -> None:
    old = world.create()
    before = world.repo.get(ACCOUNT, old.id)
    assert before is not None
    new = world.rotate(old.id, grace_s=3600)
    successor = world.repo.get(ACCOUNT, new.id)
    assert successor is not None and new.key != old.key
    assert successor.expires_at == successor.lifetime_ends_at == before.lifetime_ends_at
    assert world.resolve(old.key) is not None and world.resolve(new.key) is not None
    grace_end = int(clock.timestamp()) + 3600
    world.rotate(old.id, grace_s=86400)  # a longer grace never extends the first one
    rotated = world.repo.get(ACCOUNT, old.id)
    assert rotated is not None and rotated.expires_at == grace_end
    clock.advance(3600)
    assert world.resolve(old.key) is None and world.resolve(new.key) is not None
    assert world.types().count("api_key.rotated") == 2 and world.notified == ["usr_owner"] * 3


def test_the_cap_counts_live_keys_and_revoking_frees_a_place(world: World) -> None:
    made = [world.create(name=f"k{n}").id for n in range(caps.LIMITS[caps.API_KEYS])]
    with pytest.raises(caps.LimitExceeded) as full:
        world.create(name="one too many")
    assert full.value.extra["limit"] == caps.LIMITS[caps.API_KEYS]
    api_keys.revoke(principal(), made[0], META, **world.ports)
    assert world.create(name="now fits").id not in made


def test_revoking_what_a_user_created_since_a_moment(world: World) -> None:
    early = world.create()
    since = int(clock.timestamp()) + 1
    late = [world.create().id for _ in range(2)]
    world.create(principal("usr_dev", "developer"))
    revoked = api_keys.revoke_created_by(
        ACCOUNT, "usr_owner", actor="usr_admin", reason="member_removed", meta=META, since=since, **world.ports
    )
    assert revoked == 2
    assert world.repo.get(ACCOUNT, early.id) is not None
    assert all(world.repo.get(ACCOUNT, key_id) is None for key_id in late)
    assert [e.target["key_id"] for e in world.trail.events if e.type == "api_key.revoked"] == late

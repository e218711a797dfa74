"""Member rules that depend on the data (logic.members, R31): who may act on whom, an account's last owner, and an
invitation link's single use and expiry, on in-memory repositories: no AWS, milliseconds per test.

The same rules through the API and DynamoDB (moto) are tests/integration/identity/test_members.py and
tests/security/test_f05_invitations.py; tests/integration/test_member_store_contract.py proves the fake keeps
dal.members' transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from switchboard import clock
from switchboard.crypto import tokens
from switchboard.dal.accounts import User
from switchboard.dal.members import Invitation
from switchboard.logic import members
from switchboard.models.account import AcceptIn
from switchboard.models.errors import Conflict, Forbidden, NotFound
from switchboard.models.permissions import Role
from switchboard.models.request import RequestMeta
from tests.fakes.identity import InMemoryDirectory, InMemoryMembers, session_principal

ACCOUNT = "acct_a"
META = RequestMeta(request_id="req_1", source_ip="203.0.113.9", user_agent="pytest/1")
PASSWORD = "correct horse battery staple 42"


class World:
    """An active account with an owner, an admin and a developer."""

    def __init__(self) -> None:
        self.accounts = InMemoryDirectory()
        self.members = InMemoryMembers(self.accounts)
        self.accounts.add_account(ACCOUNT)
        for user_id, role in (("usr_owner", "owner"), ("usr_admin", "admin"), ("usr_dev", "developer")):
            self.accounts.add_user(ACCOUNT, user_id, role=role)

    @property
    def stores(self) -> members.Stores:
        return members.Stores(self.members, self.accounts)

    def as_(self, user_id: str) -> Any:
        user = self.user(user_id)
        return session_principal(ACCOUNT, user_id, role=user.role)

    def user(self, user_id: str) -> User:
        user = self.accounts.get_user(ACCOUNT, user_id)
        assert user is not None
        return user

    def roles(self) -> dict[str, str]:
        return {u.user_id: u.role for u in self.members.users(ACCOUNT)}

    def invite(self, token: str, *, life_s: int = 3600, role: str = "developer") -> Invitation:
        now = int(clock.timestamp())
        invitation = self.members.new_invitation(
            ACCOUNT,
            f"idx:{token}@example.com",
            email=f"{token}@example.com",
            invitation_id=f"inv_{token}",
            role=role,
            invited_by="usr_owner",
            created_at=now,
            token_digest=tokens.digest(token),
            expires_at=now + life_s,
        )
        return self.members.put_invitation(invitation, previous=None, cap=50)

    def accept(self, token: str) -> None:
        members.accept(AcceptIn(token=token, password=PASSWORD), META, self.stores)


@pytest.fixture
def world() -> World:
    return World()


def test_an_admin_can_neither_act_on_an_owner_nor_grant_the_owner_role(world: World) -> None:
    before = world.roles()
    admin = world.as_("usr_admin")
    attempts: list[Callable[[], object]] = [
        lambda: members.change_role(admin, "usr_owner", Role.DEVELOPER, META, world.stores),
        lambda: members.change_role(admin, "usr_dev", Role.OWNER, META, world.stores),
        lambda: members.remove(admin, "usr_owner", META, world.stores),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden) as refused:
            attempt()
        assert refused.value.instance_code == "role_too_high"
    assert world.roles() == before


def test_the_last_owner_can_neither_step_down_nor_leave(world: World) -> None:
    owner = world.as_("usr_owner")
    for role in (Role.ADMIN, Role.VIEWER):
        with pytest.raises(Conflict) as refused:
            members.change_role(owner, "usr_owner", role, META, world.stores)
        assert refused.value.instance_code == "last_owner"
    with pytest.raises(Conflict) as left:
        members.remove(owner, "usr_owner", META, world.stores)
    assert left.value.instance_code == "last_owner"
    assert world.roles()["usr_owner"] == "owner"


class DemotedMeanwhile(InMemoryMembers):
    """The other owner steps down between logic's read and its write (another request's change)."""

    def __init__(self, accounts: InMemoryDirectory, other: str) -> None:
        super().__init__(accounts)
        self.other = other

    def remove(self, user: User, *, other_owner: User | None) -> None:
        self.directory.set_user(ACCOUNT, self.other, role="admin")
        super().remove(user, other_owner=other_owner)

    def change_role(self, user: User, role: str, *, other_owner: User | None) -> None:
        self.directory.set_user(ACCOUNT, self.other, role="admin")
        super().change_role(user, role, other_owner=other_owner)


def test_two_owners_cannot_both_step_down_at_once(world: World) -> None:
    world.accounts.set_user(ACCOUNT, "usr_admin", role="owner")
    world.members = DemotedMeanwhile(world.accounts, other="usr_admin")
    owner = world.as_("usr_owner")
    with pytest.raises(Conflict) as demoted:
        members.change_role(owner, "usr_owner", Role.DEVELOPER, META, world.stores)
    world.accounts.set_user(ACCOUNT, "usr_admin", role="owner")
    with pytest.raises(Conflict) as removed:
        members.remove(owner, "usr_owner", META, world.stores)
    assert (demoted.value.instance_code, removed.value.instance_code) == ("last_owner", "last_owner")
    assert world.roles()["usr_owner"] == "owner"


def test_a_member_changed_meanwhile_is_a_conflict_not_a_blind_write(world: World) -> None:
    class PromotedMeanwhile(InMemoryMembers):
        def change_role(self, user: User, role: str, *, other_owner: User | None) -> None:
            self.directory.set_user(ACCOUNT, "usr_dev", role="viewer")
            super().change_role(user, role, other_owner=other_owner)

    world.members = PromotedMeanwhile(world.accounts)
    with pytest.raises(Conflict) as refused:
        members.change_role(world.as_("usr_owner"), "usr_dev", Role.ADMIN, META, world.stores)
    assert refused.value.instance_code == "member_changed"
    assert world.roles()["usr_dev"] == "viewer"


def test_another_accounts_user_is_as_unknown_as_a_missing_one(world: World) -> None:
    world.accounts.add_account("acct_b")
    world.accounts.add_user("acct_b", "usr_b", role="developer")
    owner = world.as_("usr_owner")
    for user_id in ("usr_b", "usr_missing", "inv_missing"):
        with pytest.raises(NotFound):
            members.remove(owner, user_id, META, world.stores)
    with pytest.raises(NotFound):
        members.change_role(owner, "usr_b", Role.VIEWER, META, world.stores)
    assert world.accounts.get_user("acct_b", "usr_b") is not None


def test_an_unknown_expired_spent_or_replaced_link_is_invalid(world: World) -> None:
    world.invite("expired-token", life_s=-1)
    spent = world.invite("spent-token")
    world.members.delete_invitation(spent)  # what joining does
    first = world.invite("first-token")
    replacement = world.members.new_invitation(
        ACCOUNT,
        first.email_index,
        email="first-token@example.com",
        invitation_id="inv_again",
        role="developer",
        invited_by="usr_owner",
        created_at=first.created_at,
        token_digest=tokens.digest("second-token"),
        expires_at=first.expires_at,
    )
    world.members.put_invitation(replacement, previous=first, cap=50)
    for token in ("never-issued", "expired-token", "spent-token", "first-token"):
        with pytest.raises(members.InvitationInvalid):
            world.accept(token)
    assert world.members.get_invite_token(tokens.digest("second-token")) is not None


def test_a_revoked_link_says_so_once(world: World) -> None:
    invitation = world.invite("revoked-token")
    world.members.revoke_invitation(invitation, reason="inviter_removed")
    with pytest.raises(members.InvitationRevoked):
        world.accept("revoked-token")
    with pytest.raises(members.InvitationInvalid):  # the link answered; now it is any unknown link
        world.accept("revoked-token")


def test_an_admin_cancels_only_invitations_they_could_send(world: World) -> None:
    for_owner = world.invite("owner-token", role="owner")
    admin = world.as_("usr_admin")
    with pytest.raises(Forbidden):
        members.remove(admin, for_owner.invitation_id, META, world.stores)
    assert world.members.get_invitation(ACCOUNT, for_owner.email_index) == for_owner

"""One contract, two implementations: InMemoryMembers keeps members and invitations as dal.members does under moto.

Each write is one transaction: these tests hold the fake to the same conditions and the same refusal reasons.
"""

from __future__ import annotations

import dataclasses

import pytest

from switchboard import clock
from switchboard.crypto import envelope
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import caps as caps_dal
from switchboard.dal import members as members_dal
from switchboard.dal.accounts import EmailOwner, User
from switchboard.dal.members import Invitation, InviteLink, Refused
from switchboard.logic.members import MemberStore
from switchboard.logic.ports import AccountStore
from tests.fakes import contract
from tests.fakes.identity import InMemoryDirectory, InMemoryMembers
from tests.integration.test_account_store_contract import ACCOUNT, stored_user

Stores = tuple[MemberStore, AccountStore]


@pytest.fixture(params=contract.SIDES)
def stores(request: pytest.FixtureRequest) -> Stores:
    return contract.side(request, _in_memory, _dal_with_key)


def _in_memory() -> Stores:
    directory = InMemoryDirectory()
    return InMemoryMembers(directory), directory


def _dal_with_key() -> Stores:
    envelope.create_key(ACCOUNT)  # sealing needs the account's key
    return members_dal, accounts_dal


def invitation(members: MemberStore, n: int, *, digest: str = "", life_s: int = 3600) -> Invitation:
    now = int(clock.timestamp())
    return members.new_invitation(
        ACCOUNT,
        f"idx:invitee{n}@example.com",
        email=f"invitee{n}@example.com",
        invitation_id=f"inv_{n:04d}",
        role="developer",
        invited_by="usr_1",
        created_at=now,
        token_digest=digest or f"digest{n}",
        expires_at=now + life_s,
    )


def newcomer(of: Invitation, user_id: str = "usr_new", *, email_index: str = "") -> User:
    return User(
        account_id=ACCOUNT,
        user_id=user_id,
        email_sealed="sealed",
        email_index=email_index or of.email_index,
        role=of.role,
        password_phc="phc1",
        pepper_version="v1",
        created_at=0,
        password_changed_at=0,
        email_verified=True,
    )


def test_an_invitation_is_stored_with_its_link_and_its_sealed_address(stores: Stores) -> None:
    members, _ = stores
    made = invitation(members, 1)
    stored = members.put_invitation(made, previous=None, cap=5)
    assert stored.cap_slot and dataclasses.replace(stored, cap_slot=None) == made
    assert members.get_invitation(ACCOUNT, stored.email_index) == stored
    assert members.invitations(ACCOUNT) == [stored]
    assert members.get_invite_token("digest1") == InviteLink("digest1", ACCOUNT, stored.email_index, stored.expires_at)
    assert members.open_field(stored, "email") == "invitee1@example.com"
    assert members.get_invitation(ACCOUNT, "idx:nobody") is None and members.get_invite_token("digest9") is None


def test_inviting_again_replaces_the_link_in_the_same_slot_and_a_stale_write_is_refused(stores: Stores) -> None:
    members, _ = stores
    first = members.put_invitation(invitation(members, 1), previous=None, cap=5)
    second = members.put_invitation(invitation(members, 1, digest="digestB"), previous=first, cap=5)
    assert (second.token_digest, second.cap_slot) == ("digestB", first.cap_slot)
    assert members.get_invite_token("digest1") is None and members.get_invite_token("digestB") is not None
    for previous in (first, None):  # another request replaced it meanwhile / one exists already
        with pytest.raises(Refused):  # which reason the dal names depends on the transaction's order; logic needs none
            members.put_invitation(invitation(members, 1, digest="digestC"), previous=previous, cap=5)
    assert members.get_invitation(ACCOUNT, first.email_index) == second


def test_live_invitations_hold_the_accounts_slots(stores: Stores) -> None:
    members, _ = stores
    first = members.put_invitation(invitation(members, 1), previous=None, cap=2)
    members.put_invitation(invitation(members, 2), previous=None, cap=2)
    with pytest.raises(caps_dal.CapReached):
        members.put_invitation(invitation(members, 3), previous=None, cap=2)
    members.delete_invitation(first)
    assert members.get_invite_token("digest1") is None
    assert members.put_invitation(invitation(members, 3), previous=None, cap=2).cap_slot


def test_joining_spends_the_invitation_and_its_link_once(stores: Stores) -> None:
    members, accounts = stores
    owner = stored_user(accounts, "usr_1")
    stored = members.put_invitation(invitation(members, 1), previous=None, cap=5)
    members.join(newcomer(stored), stored, inviter=owner)
    assert [u.user_id for u in members.users(ACCOUNT)] == ["usr_1", "usr_new"]
    assert accounts.find_by_email(stored.email_index) == EmailOwner(ACCOUNT, "usr_new")
    assert members.get_invitation(ACCOUNT, stored.email_index) is None
    assert members.get_invite_token("digest1") is None
    with pytest.raises(Refused) as refused:
        members.join(newcomer(stored, "usr_again"), stored, inviter=owner)
    assert refused.value.reason == "stale"
    assert accounts.get_user(ACCOUNT, "usr_again") is None


def test_joining_refuses_a_taken_address_and_a_changed_inviter(stores: Stores) -> None:
    members, accounts = stores
    owner = stored_user(accounts, "usr_1")
    stored = members.put_invitation(invitation(members, 1), previous=None, cap=5)
    with pytest.raises(Refused) as taken:  # the address already belongs to a user
        members.join(newcomer(stored, email_index=owner.email_index), stored, inviter=owner)
    accounts.update_user(owner, role="admin")
    with pytest.raises(Refused) as changed:  # demoted since the invitation was read
        members.join(newcomer(stored), stored, inviter=owner)
    assert (taken.value.reason, changed.value.reason) == ("email_taken", "inviter_changed")
    assert members.get_invitation(ACCOUNT, stored.email_index) == stored
    assert [u.user_id for u in members.users(ACCOUNT)] == ["usr_1"]


def test_a_revoked_invitation_leaves_a_link_that_says_so(stores: Stores) -> None:
    members, _ = stores
    stored = members.put_invitation(invitation(members, 1), previous=None, cap=5)
    members.revoke_invitation(stored, reason="inviter_removed")
    assert members.get_invitation(ACCOUNT, stored.email_index) is None
    link = members.get_invite_token("digest1")
    assert link is not None and link.revoked == "inviter_removed"
    members.delete_invite_token("digest1")
    assert members.get_invite_token("digest1") is None


def test_a_role_change_and_a_removal_always_keep_an_owner(stores: Stores) -> None:
    members, accounts = stores
    first, second = stored_user(accounts, "usr_1"), stored_user(accounts, "usr_2")
    members.change_role(first, "admin", other_owner=second)
    admin = accounts.get_user(ACCOUNT, "usr_1")
    assert admin is not None and admin.role == "admin"
    with pytest.raises(Refused) as stale:  # read as owner, an admin now
        members.change_role(first, "viewer", other_owner=second)
    with pytest.raises(Refused) as last:  # the "other owner" is no owner any more
        members.remove(second, other_owner=admin)
    assert (stale.value.reason, last.value.reason) == ("stale", "last_owner")
    members.remove(admin, other_owner=None)
    assert [u.user_id for u in members.users(ACCOUNT)] == ["usr_2"]
    assert accounts.find_by_email(admin.email_index) is None

"""Finding 5 (R31, R22): an invitation holds only while its inviter could still send it.

The inviter removed, demoted to any role that may not grant the invited role, locked out (reset required) or the
account not active: the invitee gets 410 `invitation_revoked`, the invitation is gone and an audit event says why.
Both ways the inviter can lose the right are covered: through the API (which revokes their pending invitations at
once) and behind its back (the store changed directly, so only the check at acceptance can catch it).
"""

from __future__ import annotations

import pytest

from switchboard.dal import accounts as accounts_dal
from switchboard.dal.accounts import User
from tests.integration.conftest import set_account_status
from tests.integration.identity.gateway import add_member, call, login, register
from tests.integration.identity.support import last_token
from tests.security.identity_fixtures import PASSWORD, _handlers_run_as_deployed, aws, identity  # noqa: F401

OWNER = "olga@example.com"
INVITER = "ivan@example.com"
INVITEE = "nina@example.com"
LOWER_THAN_ADMIN = ["developer", "agent", "viewer"]


def _setup(inviter_role: str, invited_role: str) -> tuple[str, str]:
    """An owner, an inviter of `inviter_role` who invites INVITEE as `invited_role`; (owner token, inviter id)."""
    register(OWNER, password=PASSWORD)
    owner = login(OWNER, PASSWORD)
    inviter_id = add_member(owner, INVITER, inviter_role, password=PASSWORD)
    invited = call("POST", "/v1/members", {"email": INVITEE, "role": invited_role}, token=login(INVITER, PASSWORD))
    assert invited.status == 201, invited.body
    return owner, inviter_id


def _accept() -> tuple[int, str | None]:
    answer = call("POST", "/v1/invitations/accept", {"token": last_token(INVITEE), "password": PASSWORD})
    return answer.status, (answer.body or {}).get("code")


def _pending(owner: str) -> list[str]:
    return [m["email"] for m in call("GET", "/v1/members", token=owner).body["data"] if m["status"] == "invited"]


def _revocations(owner: str) -> list[dict[str, object]]:
    events = call("GET", "/v1/audit-events", token=owner, query={"limit": "100"}).body["data"]
    return [e for e in events if e["type"] == "member.invitation_revoked"]


def _inviter(inviter_id: str) -> User:
    user = accounts_dal.get_user(_account_id(), inviter_id)
    assert user is not None
    return user


def _account_id() -> str:
    lookup = accounts_dal.find_by_email(_index(OWNER))
    assert lookup is not None
    return lookup.account_id


def _index(email: str) -> str:
    from switchboard.crypto import blind_index  # noqa: PLC0415

    return blind_index.email_index(email)


def _assert_revoked(owner: str, reason: str) -> None:
    assert _accept() == (410, "invitation_revoked")
    assert INVITEE not in _pending(owner)
    revoked = _revocations(owner)
    assert revoked, "no audit event for the revocation"
    assert revoked[0]["data"]["reason"] == reason  # type: ignore[index]
    # The link is dead for good: the same token again is an unknown invitation, never a new member.
    assert _accept() == (400, "token_invalid")
    assert accounts_dal.find_by_email(_index(INVITEE)) is None


@pytest.mark.parametrize("via", ["api", "store"])
def test_inviter_removed_revokes_the_invitation(identity: dict[str, str], via: str) -> None:  # noqa: F811
    owner, inviter_id = _setup("admin", "developer")
    if via == "api":
        assert call("DELETE", f"/v1/members/{inviter_id}", token=owner).status == 204
    else:
        accounts_dal.user_key(_inviter(inviter_id)).delete()  # the user item alone, straight from the table
    _assert_revoked(owner, "inviter_removed")


@pytest.mark.parametrize("via", ["api", "store"])
@pytest.mark.parametrize("lower", LOWER_THAN_ADMIN)
def test_inviter_demoted_below_admin_revokes_the_invitation(
    identity: dict[str, str],  # noqa: F811
    lower: str,
    via: str,
) -> None:
    owner, inviter_id = _setup("admin", "agent")
    if via == "api":
        assert call("PATCH", f"/v1/members/{inviter_id}", {"role": lower}, token=owner).status == 200
    else:
        accounts_dal.update_user(_inviter(inviter_id), role=lower)
    _assert_revoked(owner, "inviter_demoted")


@pytest.mark.parametrize("via", ["api", "store"])
def test_owner_demoted_to_admin_keeps_what_an_admin_may_grant_only(identity: dict[str, str], via: str) -> None:  # noqa: F811
    register(OWNER, password=PASSWORD)
    owner = login(OWNER, PASSWORD)
    second_owner = add_member(owner, INVITER, "owner", password=PASSWORD)
    inviter = login(INVITER, PASSWORD)
    assert call("POST", "/v1/members", {"email": INVITEE, "role": "owner"}, token=inviter).status == 201
    assert call("POST", "/v1/members", {"email": "dana@example.com", "role": "developer"}, token=inviter).status == 201
    if via == "api":
        assert call("PATCH", f"/v1/members/{second_owner}", {"role": "admin"}, token=owner).status == 200
    else:
        accounts_dal.update_user(_inviter(second_owner), role="admin")
    _assert_revoked(owner, "inviter_demoted")  # an admin cannot make owners
    joined = call("POST", "/v1/invitations/accept", {"token": last_token("dana@example.com"), "password": PASSWORD})
    assert (joined.status, joined.body["role"]) == (201, "developer")  # an admin can still invite developers


def test_inviter_locked_out_until_reset_revokes_the_invitation(identity: dict[str, str]) -> None:  # noqa: F811
    owner, inviter_id = _setup("admin", "viewer")
    accounts_dal.update_user(_inviter(inviter_id), reset_required=True)
    _assert_revoked(owner, "inviter_suspended")


@pytest.mark.parametrize("status", ["suspended", "pending_deletion"])
def test_account_not_active_revokes_the_invitation(identity: dict[str, str], status: str) -> None:  # noqa: F811
    owner, _ = _setup("admin", "developer")
    set_account_status(_account_id(), status)
    assert _accept() == (410, "invitation_revoked")
    set_account_status(_account_id(), "active")
    assert INVITEE not in _pending(owner)
    assert _revocations(owner)[0]["data"]["reason"] == "account_not_active"  # type: ignore[index]


@pytest.mark.parametrize(
    ("inviter_role", "invited_role"), [("admin", "admin"), ("owner", "owner"), ("admin", "viewer")]
)
def test_an_inviter_still_in_good_standing_is_honoured(
    identity: dict[str, str],  # noqa: F811
    inviter_role: str,
    invited_role: str,
) -> None:
    owner, inviter_id = _setup(inviter_role, invited_role)
    # Another member's removal or a role change that keeps the right revokes nothing.
    other = add_member(owner, "otto@example.com", "viewer", password=PASSWORD)
    assert call("DELETE", f"/v1/members/{other}", token=owner).status == 204
    if inviter_role == "owner":
        assert call("PATCH", f"/v1/members/{inviter_id}", {"role": "owner"}, token=owner).status == 200
    assert _accept() == (201, None)
    assert _revocations(owner) == []

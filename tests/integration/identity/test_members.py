"""Members and invitations through the gateway path (R31, R33, R24, R11): rules, last owner, removal, isolation."""

import json

import boto3

from switchboard import clock
from tests.integration.identity.gateway import add_member, call, login, register
from tests.integration.identity.support import PASSWORD, last_token, mails_to


def _owner(email: str = "olga@example.com", account_name: str = "Acme Widgets") -> str:
    register(email, account_name)
    return login(email)


def _audit_types(token: str) -> list[str]:
    answer = call("GET", "/v1/audit-events", token=token, query={"limit": "100"})
    assert answer.status == 200
    return [event["type"] for event in answer.body["data"]]


def test_members_invite_accept_login_and_list(identity: dict[str, str]) -> None:
    owner = _owner()
    invited = call("POST", "/v1/members", {"email": "Dev@Example.com ", "role": "developer"}, token=owner)
    assert invited.status == 201
    assert invited.body["status"] == "invited"
    assert (invited.body["email"], invited.body["role"]) == ("dev@example.com", "developer")
    assert invited.body["invitation_id"].startswith("inv_")
    listed = call("GET", "/v1/members", token=owner).body["data"]
    assert [(m["email"], m["role"], m["status"]) for m in listed] == [
        ("olga@example.com", "owner", "active"),
        ("dev@example.com", "developer", "invited"),
    ]
    token = last_token("dev@example.com")
    invitation = mails_to("dev@example.com")[-1]
    assert invitation.subject == "Switchboard: you are invited to join an account"  # no tenant text (R49)
    assert 'account named "Acme Widgets" as developer' in invitation.body
    joined = call("POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert joined.status == 201
    assert joined.body["role"] == "developer"
    again = call("POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert (again.status, again.body["code"]) == (400, "token_invalid")
    me = call("GET", "/v1/me", token=login("dev@example.com")).body
    assert (me["role"], me["user_id"], me["account_id"]) == (
        "developer",
        joined.body["user_id"],
        joined.body["account_id"],
    )
    listed = call("GET", "/v1/members", token=owner).body["data"]
    assert [(m["email"], m["status"], m["mfa_enabled"]) for m in listed] == [
        ("olga@example.com", "active", False),
        ("dev@example.com", "active", False),
    ]
    assert all("user_id" in m and "invitation_id" not in m for m in listed)
    types = _audit_types(owner)
    assert types.index("member.joined") < types.index("member.invited")  # newest first
    client = boto3.client("dynamodb")
    dump = json.dumps([client.scan(TableName=n)["Items"] for n in client.list_tables()["TableNames"]], default=repr)
    assert token not in dump
    assert "dev@example.com" not in dump


def test_members_accept_applies_the_password_policy_and_expiry(identity: dict[str, str]) -> None:
    owner = _owner()
    call("POST", "/v1/members", {"email": "ann@example.com", "role": "agent"}, token=owner)
    token = last_token("ann@example.com")
    short = call("POST", "/v1/invitations/accept", {"token": token, "password": "fourteen chars"})
    assert (short.status, short.body["code"]) == (422, "password_too_short")
    context = call("POST", "/v1/invitations/accept", {"token": token, "password": "acmewidgets2025!!!!!"})
    assert (context.status, context.body["code"]) == (422, "password_context")
    clock.advance(7 * 86400 + 1)
    late = call("POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert (late.status, late.body["code"]) == (400, "token_invalid")
    unknown = call("POST", "/v1/invitations/accept", {"token": "x" * 43, "password": PASSWORD})
    assert (unknown.status, unknown.body["code"]) == (400, "token_invalid")


def test_members_reinvite_replaces_the_link_and_cancel_kills_it(identity: dict[str, str]) -> None:
    owner = _owner()
    call("POST", "/v1/members", {"email": "ann@example.com", "role": "agent"}, token=owner)
    first = last_token("ann@example.com")
    second_invite = call("POST", "/v1/members", {"email": "ann@example.com", "role": "viewer"}, token=owner)
    second = last_token("ann@example.com")
    old = call("POST", "/v1/invitations/accept", {"token": first, "password": PASSWORD})
    assert (old.status, old.body["code"]) == (400, "token_invalid")
    pending = [m for m in call("GET", "/v1/members", token=owner).body["data"] if m["status"] == "invited"]
    assert [(m["role"], m["invitation_id"]) for m in pending] == [("viewer", second_invite.body["invitation_id"])]
    assert call("DELETE", f"/v1/members/{second_invite.body['invitation_id']}", token=owner).status == 204
    cancelled = call("POST", "/v1/invitations/accept", {"token": second, "password": PASSWORD})
    assert (cancelled.status, cancelled.body["code"]) == (400, "token_invalid")
    assert [m["status"] for m in call("GET", "/v1/members", token=owner).body["data"]] == ["active"]


def test_members_one_user_one_account_without_enumeration(identity: dict[str, str]) -> None:
    owner = _owner()
    register("bob@example.com", "Bobs Burgers")
    # Bob has his own account: the inviter gets the same 201 as for any address; Bob's acceptance is refused.
    invited = call("POST", "/v1/members", {"email": "bob@example.com", "role": "viewer"}, token=owner)
    assert invited.status == 201
    accepted = call("POST", "/v1/invitations/accept", {"token": last_token("bob@example.com"), "password": PASSWORD})
    assert (accepted.status, accepted.body["code"]) == (409, "email_in_use")
    assert call("GET", "/v1/me", token=login("bob@example.com")).body["role"] == "owner"
    mine = call("POST", "/v1/members", {"email": "olga@example.com", "role": "viewer"}, token=owner)
    assert (mine.status, mine.body["code"]) == (409, "member_exists")


def test_members_admins_never_touch_owners(identity: dict[str, str]) -> None:
    owner = _owner()
    owner_id = call("GET", "/v1/me", token=owner).body["user_id"]
    add_member(owner, "adam@example.com", "admin")
    admin = login("adam@example.com")
    grant = call("POST", "/v1/members", {"email": "x@example.com", "role": "owner"}, token=admin)
    assert (grant.status, grant.body["code"]) == (403, "role_too_high")
    demote = call("PATCH", f"/v1/members/{owner_id}", {"role": "viewer"}, token=admin)
    assert (demote.status, demote.body["code"]) == (403, "role_too_high")
    assert call("DELETE", f"/v1/members/{owner_id}", token=admin).status == 403
    dev_id = add_member(admin, "dev@example.com", "developer")
    promote = call("PATCH", f"/v1/members/{dev_id}", {"role": "owner"}, token=admin)
    assert (promote.status, promote.body["code"]) == (403, "role_too_high")
    assert call("PATCH", f"/v1/members/{dev_id}", {"role": "agent"}, token=admin).body["role"] == "agent"
    mass = call("PATCH", f"/v1/members/{dev_id}", {"role": "agent", "account_id": "acct_x"}, token=admin)
    assert mass.status == 422  # R33: only the role is writable


def test_members_last_owner_is_never_removed_or_demoted(identity: dict[str, str]) -> None:
    owner = _owner()
    owner_id = call("GET", "/v1/me", token=owner).body["user_id"]
    alone = call("PATCH", f"/v1/members/{owner_id}", {"role": "admin"}, token=owner)
    assert (alone.status, alone.body["code"]) == (409, "last_owner")
    assert call("DELETE", f"/v1/members/{owner_id}", token=owner).body["code"] == "last_owner"
    second_id = add_member(owner, "otto@example.com", "owner")
    assert call("PATCH", f"/v1/members/{owner_id}", {"role": "admin"}, token=owner).status == 200
    otto = login("otto@example.com")
    last = call("DELETE", f"/v1/members/{second_id}", token=otto)
    assert (last.status, last.body["code"]) == (409, "last_owner")


def test_members_role_change_applies_on_the_next_request(identity: dict[str, str]) -> None:
    owner = _owner()
    admin_id = add_member(owner, "adam@example.com", "admin")
    admin = login("adam@example.com")
    key = call("POST", "/v1/api-keys", {"name": "ops", "role": "admin"}, token=admin).body["key"]
    assert call("GET", "/v1/audit-events", token=admin).status == 200
    assert call("GET", "/v1/audit-events", token=key).status == 200
    changed = call("PATCH", f"/v1/members/{admin_id}", {"role": "viewer"}, token=owner)
    assert (changed.status, changed.body["role"]) == (200, "viewer")
    assert call("GET", "/v1/audit-events", token=admin).status == 403
    assert call("GET", "/v1/audit-events", token=key).status == 403  # a key never outranks its creator
    assert call("GET", "/v1/account", token=admin).status == 200
    assert "your role changed" in mails_to("adam@example.com")[-1].subject
    events = call("GET", "/v1/audit-events", token=owner).body["data"]
    # Newest first: the two refused reads after the change (R54), then the change itself.
    assert [e["type"] for e in events[:2]] == ["authorization.denied"] * 2
    event = events[2]
    assert (event["type"], event["target"], event["data"]) == (
        "member.role_changed",
        {"user_id": admin_id},
        {"from": "admin", "to": "viewer"},
    )


def test_members_removal_ends_sessions_and_keys_at_once(identity: dict[str, str]) -> None:
    owner = _owner()
    dev_id = add_member(owner, "dev@example.com", "developer")
    dev = login("dev@example.com")
    other_session = login("dev@example.com")
    key = call("POST", "/v1/api-keys", {"name": "ci", "role": "developer"}, token=dev).body["key"]
    assert call("GET", "/v1/account", token=key).status == 200
    assert call("DELETE", f"/v1/members/{dev_id}", token=owner).status == 204
    for credential in (dev, other_session, key):
        assert call("GET", "/v1/account", token=credential).status == 401
    refused = call("POST", "/v1/sessions", {"email": "dev@example.com", "password": PASSWORD})
    assert (refused.status, refused.body["code"]) == (401, "invalid_credentials")
    assert "removed" in mails_to("dev@example.com")[-1].subject
    assert call("DELETE", f"/v1/members/{dev_id}", token=owner).status == 404
    types = _audit_types(owner)
    assert types[:2] == ["member.removed", "api_key.revoked"]
    # The address is free again: the same person may be invited back.
    assert add_member(owner, "dev@example.com", "viewer") != dev_id


def test_members_need_a_recent_session_never_a_key(identity: dict[str, str]) -> None:
    owner = _owner()
    key = call("POST", "/v1/api-keys", {"name": "all", "role": "owner"}, token=owner).body["key"]
    for method, path, body in (
        ("POST", "/v1/members", {"email": "x@example.com", "role": "viewer"}),
        ("GET", "/v1/members", None),
    ):
        answer = call(method, path, body, token=key)
        assert (answer.status, answer.body["code"]) == (403, "session_required")
    clock.advance(10 * 60)
    stale = call("POST", "/v1/members", {"email": "x@example.com", "role": "viewer"}, token=owner)
    assert (stale.status, stale.body["code"]) == (401, "reauth_required")
    assert call("GET", "/v1/members", token=owner).status == 200  # reading the list is not sensitive
    assert call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=owner).status == 200
    assert call("POST", "/v1/members", {"email": "x@example.com", "role": "viewer"}, token=owner).status == 201


def test_members_of_another_account_are_404(identity: dict[str, str]) -> None:
    owner_a = _owner()
    register("bea@example.com", "Beta Ltd")
    owner_b = login("bea@example.com")
    dev_b = add_member(owner_b, "dev-b@example.com", "developer")
    invitation_b = call("POST", "/v1/members", {"email": "v@example.com", "role": "viewer"}, token=owner_b)
    for method, path, body in (
        ("PATCH", f"/v1/members/{dev_b}", {"role": "viewer"}),
        ("DELETE", f"/v1/members/{dev_b}", None),
        ("DELETE", f"/v1/members/{invitation_b.body['invitation_id']}", None),
    ):
        answer = call(method, path, body, token=owner_a)
        assert (answer.status, answer.body["code"]) == (404, "not_found"), path
    assert call("GET", "/v1/me", token=login("dev-b@example.com")).body["role"] == "developer"

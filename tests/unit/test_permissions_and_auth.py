"""The permission table (API.md), Principal from the authorizer context, re-auth and URL credentials (R24, R27, R31)."""

from typing import Any

import pytest

from switchboard import auth, clock
from switchboard.logic import authorizer
from switchboard.models.errors import BadRequest, Forbidden, Unauthorized
from switchboard.models.permissions import Permission, Role, allows, may_grant

# API.md "Roles and permissions", cell by cell: (permission, roles that hold it).
EXPECTED = {
    Permission.ACCOUNT_READ: "owner admin developer agent viewer",
    Permission.ACCOUNT_MANAGE: "owner",
    Permission.MEMBERS_MANAGE: "owner admin",
    Permission.API_KEYS_MANAGE: "owner admin developer",
    Permission.WEBHOOKS_MANAGE: "owner admin developer",
    Permission.TEMPLATES_MANAGE: "owner admin developer",  # not in API.md: the template registry (finding 12)
    Permission.RECIPIENTS_WRITE: "owner admin developer agent",
    Permission.MESSAGES_SEND: "owner admin developer agent",
    Permission.RECIPIENTS_READ: "owner admin developer agent viewer",
    Permission.MESSAGES_READ: "owner admin developer agent viewer",  # API.md's "recipients, messages: read" row
    Permission.TEMPLATES_READ: "owner admin developer agent viewer",  # whoever sends sees which templates exist
    Permission.AUDIT_READ: "owner admin",
    Permission.ACCOUNT_SETTINGS: "owner admin",  # not in API.md: message retention (R60, docs/account-lifecycle.md)
    Permission.CONTENT_READ: "owner admin developer agent",  # not in API.md: bodies and files beyond masked logs
    Permission.RECORDINGS_READ: "owner admin",  # not in API.md: call recordings
}


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_permissions_r31_match_the_api_md_matrix(role: Role, permission: Permission) -> None:
    assert allows(role, permission) is (role.value in EXPECTED[permission].split())


def test_permissions_unknown_role_holds_nothing() -> None:
    assert not any(allows("root", p) for p in Permission)


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("owner", "owner", True),
        ("admin", "owner", False),
        ("admin", "admin", True),
        ("developer", "admin", False),
        ("developer", "developer", True),
        ("developer", "viewer", True),
        ("agent", "viewer", False),
        ("viewer", "viewer", False),
    ],
)
def test_permissions_may_grant_never_above_the_rule(actor: str, target: str, allowed: bool) -> None:
    assert may_grant(actor, target) is allowed


def _event(context: dict[str, str] | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    return {"requestContext": {"authorizer": context} if context is not None else {}, "queryStringParameters": query}


def _context(**overrides: str) -> dict[str, str]:
    base = {
        "principalId": "usr_1",
        "account_id": "acct_1",
        "principal": "usr_1",
        "role": "developer",
        "credential": "session",
        "session_id": "ses_1",
        "key_id": "",
        "plan": "free",
        "mode": "test",
        "auth_at": str(int(clock.timestamp())),
    }
    return base | overrides


def test_principal_r32_comes_only_from_the_authorizer_context() -> None:
    principal = auth.Principal.from_event(_event(_context()))
    assert (principal.account_id, principal.principal, principal.role) == ("acct_1", "usr_1", "developer")
    with pytest.raises(Unauthorized):
        auth.Principal.from_event({"requestContext": {}, "body": '{"account_id": "acct_1"}'})


def test_require_r31_raises_forbidden_without_the_permission() -> None:
    principal = auth.Principal.from_event(_event(_context(role="viewer")))
    auth.require(principal, Permission.ACCOUNT_READ)
    with pytest.raises(Forbidden):
        auth.require(principal, Permission.MESSAGES_SEND)


def test_require_recent_auth_r24_five_minutes() -> None:
    principal = auth.Principal.from_event(_event(_context()))
    auth.require_recent_auth(principal)
    clock.advance(301)
    with pytest.raises(Unauthorized) as raised:
        auth.require_recent_auth(principal)
    assert raised.value.instance_code == "reauth_required"


def test_require_session_refuses_api_keys() -> None:
    principal = auth.Principal.from_event(_event(_context(credential="api_key", session_id="", auth_at="")))
    with pytest.raises(Forbidden):
        auth.require_recent_auth(principal)


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ({"api_key": "x"}, True),
        ({"ACCESS_TOKEN": "x"}, True),
        ({"key": "x"}, True),
        ({"q": "sb_live_key_abc"}, True),
        ({"q": "sbs_abc"}, True),
        ({"limit": "10", "cursor": "abc"}, False),
        (None, False),
    ],
)
def test_credentials_in_query_r27(query: dict[str, str] | None, refused: bool) -> None:
    assert auth.credentials_in_query(_event(query=query)) is refused
    if refused:
        with pytest.raises(BadRequest) as raised:
            auth.refuse_credentials_in_url(_event(query=query))
        assert raised.value.instance_code == "credentials_in_url"


def test_authorizer_r27_allows_with_a_refusal_that_handlers_turn_into_400() -> None:
    decision = authorizer.authorize(
        {"methodArn": "arn:aws:execute-api:eu-west-1:1:api/live/GET/v1/me", "queryStringParameters": {"token": "x"}}
    )
    assert decision["context"]["refusal"] == "credentials_in_url"
    assert decision["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:eu-west-1:1:api/live/*"
    with pytest.raises(BadRequest):
        auth.Principal.from_event({"requestContext": {"authorizer": decision["context"]}})


@pytest.mark.parametrize("header", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
def test_authorizer_r30_refuses_without_a_bearer_credential(header: dict[str, str]) -> None:
    with pytest.raises(authorizer.Denied, match=r"^Unauthorized$"):
        authorizer.authorize({"methodArn": "arn:aws:execute-api:r:1:api/live/GET/v1/me", "headers": header})

"""Sessions and the authorizer through the gateway's path: authorizer, then handler (R19-R24, R27, R30, R32)."""

from typing import Any

import pytest

from functions.authorizer import handler as authorizer_handler
from switchboard import clock
from switchboard.crypto import blind_index
from switchboard.dal import accounts as accounts_dal
from tests.integration.conftest import Context, set_account_status
from tests.integration.identity.support import (
    PASSWORD,
    authorizer_event,
    call,
    register,
    session,
)


def _authorize(token: str | None, **kwargs: Any) -> dict[str, Any]:
    return authorizer_handler.lambda_handler(authorizer_event("GET", "/v1/me", token, **kwargs), Context())


def test_authorizer_r32_context_comes_from_the_session(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    decision = _authorize(token)
    lookup = accounts_dal.find_by_email(blind_index.email_index("jane@example.com"))
    assert lookup is not None
    context = decision["context"]
    assert decision["principalId"] == context["principal"] == lookup.user_id
    assert context["account_id"] == lookup.account_id
    assert (context["role"], context["credential"], context["plan"], context["key_id"]) == (
        "owner",
        "session",
        "free",
        "",
    )
    assert context["session_id"].startswith("ses_")
    assert int(context["auth_at"]) <= clock.timestamp()
    assert all(isinstance(v, str) for v in context.values())
    [statement] = decision["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:eu-west-1:123456789012:abc123/live/*"


@pytest.mark.parametrize("token", [None, "", "sbs_unknown", "garbage", "sb_test_key_nothing"])
def test_authorizer_r30_refuses_missing_and_unknown_credentials(identity: dict[str, str], token: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(token)


def test_me_r32_ignores_account_ids_in_headers_and_body(identity: dict[str, str]) -> None:
    register("jane@example.com")
    register("bob@example.com", account_name="Bobs Burgers")
    token = session("jane@example.com")
    me = call("GET", "/v1/me", token=token)
    assert me.status == 200
    assert me.body["email"] == "jane@example.com"
    assert me.body["role"] == "owner"
    assert me.body["mfa_enabled"] is False
    assert me.headers["Cache-Control"] == "no-store"


def test_session_r22_logout_is_immediate(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    assert call("GET", "/v1/me", token=token).status == 200
    assert call("DELETE", "/v1/sessions/current", token=token).status == 204
    assert call("GET", "/v1/me", token=token).status == 401


def test_session_r20_idle_timeout_30_minutes(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    clock.advance(29 * 60)
    assert call("GET", "/v1/me", token=token).status == 200
    clock.advance(31 * 60)
    assert call("GET", "/v1/me", token=token).status == 401


def test_session_r20_absolute_timeout_12_hours(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    for _ in range(24):  # a request every 29 minutes keeps it alive for 11 h 36 min
        clock.advance(29 * 60)
        assert call("GET", "/v1/me", token=token).status == 200
    clock.advance(12 * 3600 - 24 * 29 * 60 + 1)
    assert call("GET", "/v1/me", token=token).status == 401


def test_session_r23_eleventh_login_evicts_the_first(identity: dict[str, str]) -> None:
    register("jane@example.com")
    tokens = [session("jane@example.com") for _ in range(11)]
    assert call("GET", "/v1/me", token=tokens[0]).status == 401
    assert call("GET", "/v1/me", token=tokens[1]).status == 200
    listed = call("GET", "/v1/sessions", token=tokens[-1])
    assert len(listed.body["data"]) == 10


def test_session_r23_list_and_revoke_another(identity: dict[str, str]) -> None:
    register("jane@example.com")
    a = session("jane@example.com")
    b = session("jane@example.com")
    listed = call("GET", "/v1/sessions", token=a)
    assert listed.status == 200
    rows = listed.body["data"]
    assert len(rows) == 2
    assert [r["current"] for r in rows].count(True) == 1
    assert all(r["ip"] == "198.51.100.7" and r["user_agent"] == "pytest" for r in rows)
    assert all(r["created_at"].endswith("Z") and r["last_seen_at"].endswith("Z") for r in rows)
    other = next(r["id"] for r in rows if not r["current"])
    assert call("DELETE", f"/v1/sessions/{other}", token=a).status == 204
    assert call("GET", "/v1/me", token=b).status == 401
    assert call("GET", "/v1/me", token=a).status == 200


def test_session_r32_another_users_session_is_404(identity: dict[str, str]) -> None:
    register("jane@example.com")
    register("bob@example.com", account_name="Bobs Burgers")
    jane = session("jane@example.com")
    bob = session("bob@example.com")
    bobs_id = call("GET", "/v1/sessions", token=bob).body["data"][0]["id"]
    answer = call("DELETE", f"/v1/sessions/{bobs_id}", token=jane)
    assert (answer.status, answer.body["code"]) == (404, "not_found")
    assert call("GET", "/v1/me", token=bob).status == 200


def test_session_end_all_ends_the_current_one_too(identity: dict[str, str]) -> None:
    register("jane@example.com")
    a = session("jane@example.com")
    b = session("jane@example.com")
    assert call("DELETE", "/v1/sessions", token=a).status == 204
    assert call("GET", "/v1/me", token=a).status == 401
    assert call("GET", "/v1/me", token=b).status == 401


def test_session_r24_reauth_keeps_the_token_and_refreshes_auth_at(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    clock.advance(10 * 60)
    stale = call("POST", "/v1/me/mfa/totp", token=token)
    assert (stale.status, stale.body["code"]) == (401, "reauth_required")
    wrong = call("POST", "/v1/sessions/current/reauth", {"password": "not it at all, sorry"}, token=token)
    assert (wrong.status, wrong.body["code"]) == (401, "invalid_credentials")
    answer = call("POST", "/v1/sessions/current/reauth", {"password": PASSWORD}, token=token)
    assert answer.status == 200
    assert call("POST", "/v1/me/mfa/totp", token=token).status == 201


def test_authorizer_r27_credentials_in_url_are_refused_with_400(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    for query in ({"api_key": "x"}, {"q": token}, {"access_token": "abc"}, {"x": "sb_live_key_abc"}):
        answer = call("GET", "/v1/me", query=query)
        assert (answer.status, answer.body["code"]) == (400, "credentials_in_url"), query
        assert call("GET", "/v1/me", token=token, query=query).status == 400
    public = call("POST", "/v1/sessions", {"email": "jane@example.com", "password": PASSWORD}, query={"token": "x"})
    assert (public.status, public.body["code"]) == (400, "credentials_in_url")


def test_authorizer_r22_suspended_account_is_refused_at_once(identity: dict[str, str]) -> None:
    register("jane@example.com")
    token = session("jane@example.com")
    lookup = accounts_dal.find_by_email(blind_index.email_index("jane@example.com"))
    assert lookup is not None
    for status in ("suspended", "pending_deletion"):
        set_account_status(lookup.account_id, status)
        assert call("GET", "/v1/me", token=token).status == 401
        refused = call("POST", "/v1/sessions", {"email": "jane@example.com", "password": PASSWORD})
        assert (refused.status, refused.body["code"]) == (401, "account_unavailable")

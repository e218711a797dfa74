"""Finding 10: refused actions leave audit events (R54), and cannot flood a tenant's trail.

Each refusal of an identified caller (a 403 on any function's route, a revoked or expired API key used again, a
throttled login of a known user) leaves exactly one event with outcome "denied" and R54's fields; refusals that
identify nobody (an unknown key, a wrong secret, an unknown e-mail) leave none in any trail. At most
DENIED_PER_MINUTE denied events per actor and minute are chained; the rest of that minute are only logged.
"""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import clock
from switchboard.dal import audit as store
from switchboard.logic import audit
from tests.integration.identity.gateway import add_member, call
from tests.integration.identity.support import PASSWORD, login, register, session

R54_FIELDS = ("id", "account_id", "type", "outcome", "actor", "at", "source_ip", "user_agent", "request_id")


def _trail(account_id: str) -> list[dict[str, Any]]:
    return [event.fields for _, event in store.oldest_first(account_id)]


def _denied(account_id: str) -> list[dict[str, Any]]:
    return [e for e in _trail(account_id) if e["outcome"] == "denied"]


def _account(token: str) -> tuple[str, str]:
    me = call("GET", "/v1/me", token=token).body
    return me["account_id"], me["user_id"]


@pytest.fixture
def team(identity: dict[str, str]) -> dict[str, str]:
    """An owner and a viewer of one account, logged in."""
    register("owner@example.com")
    owner = session("owner@example.com")
    account_id, owner_id = _account(owner)
    viewer_id = add_member(owner, "viewer@example.com", "viewer")
    return {
        "owner": owner,
        "viewer": session("viewer@example.com"),
        "account_id": account_id,
        "owner_id": owner_id,
        "viewer_id": viewer_id,
    }


# One refused route per function that serves authenticated routes (their role checks all raise Forbidden).
REFUSED = [
    ("identity_api", "POST", "/v1/api-keys", {"name": "k", "role": "viewer"}, "forbidden"),
    ("account_api", "GET", "/v1/audit-events", None, "forbidden"),
    ("account_api", "POST", "/v1/members", {"email": "x@example.com", "role": "viewer"}, "forbidden"),
    (
        "webhooks_api",
        "POST",
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/h", "events": ["message.status"]},
        "forbidden",
    ),
    ("recipients_api", "POST", "/v1/recipients", {"phone": "+14155550199"}, "forbidden"),
    (
        "messages_api",
        "POST",
        "/v1/messages",
        {"recipient_id": "rcp_00000000000000000000000000", "channel": "sms", "body": "Hi"},
        "forbidden",
    ),
]


def test_every_403_leaves_one_denied_event_with_r54_fields(team: dict[str, str], queues: Any) -> None:
    for function, method, path, body, code in REFUSED:
        before = len(_denied(team["account_id"]))
        answer = call(method, path, body, token=team["viewer"], ip="203.0.113.9")
        assert (answer.status, answer.body["code"]) == (403, code), function
        denied = _denied(team["account_id"])
        assert len(denied) == before + 1, function
        event = denied[-1]
        assert all(event[name] for name in R54_FIELDS), event
        assert (event["type"], event["outcome"], event["actor"]) == (
            "authorization.denied",
            "denied",
            team["viewer_id"],
        )
        assert event["source_ip"] == "203.0.113.9"
        assert event["data"] == {
            "code": code,
            "method": method,
            "route": path,
            "role": "viewer",
            "credential": "session",
        }
        assert event["request_id"] == answer.headers["X-Request-Id"]
    # An API key on a session route is refused as a key: the event names the key.
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "admin"}, token=team["owner"]).body
    answer = call("GET", "/v1/api-keys", token=created["key"])
    assert (answer.status, answer.body["code"]) == (403, "session_required")
    event = _denied(team["account_id"])[-1]
    assert (event["actor"], event["data"]["credential"], event["data"]["code"]) == (
        created["id"],
        "api_key",
        "session_required",
    )
    assert len(_denied(team["account_id"])) == len(REFUSED) + 1
    assert audit.verify(team["account_id"]).valid  # denied events are chained like any other


def test_a_revoked_rotated_or_expired_key_used_again_is_refused_and_audited(team: dict[str, str]) -> None:
    keys = {
        how: call("POST", "/v1/api-keys", {"name": how, "role": "viewer"}, token=team["owner"]).body
        for how in ("revoked", "rotated", "expired")
    }
    for created in keys.values():
        assert call("GET", "/v1/account", token=created["key"]).status == 200
    assert call("DELETE", f"/v1/api-keys/{keys['revoked']['id']}", token=team["owner"]).status == 204
    rotated = call("POST", f"/v1/api-keys/{keys['rotated']['id']}/rotate", {"grace_s": 0}, token=team["owner"])
    assert rotated.status == 201, rotated.body
    clock.advance(1)
    for how in ("revoked", "rotated", "expired"):
        if how == "expired":
            clock.advance(366 * 86400)  # past the default 365-day lifetime
        created = keys[how]
        answer = call("GET", "/v1/account", token=created["key"], ip="203.0.113.10")
        assert answer.status == 401, how
        [event] = [e for e in _denied(team["account_id"]) if e["target"] == {"key_id": created["id"]}]
        assert (event["type"], event["actor"], event["data"]) == (
            "api_key.refused",
            created["id"],
            {"reason": "revoked_or_expired"},
        )
        assert event["source_ip"] == "203.0.113.10" and event["request_id"]
    # The revoked key is gone from the list all the same.
    listed = call("GET", "/v1/api-keys", token=session("owner@example.com")).body["data"]
    assert keys["revoked"]["id"] not in {k["id"] for k in listed}


def test_refusals_that_identify_no_one_leave_no_event(team: dict[str, str]) -> None:
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"}, token=team["owner"]).body
    forged = created["key"][:-4] + ("AAAA" if not created["key"].endswith("AAAA") else "BBBB")  # right id, wrong secret
    before = _trail(team["account_id"])
    for token in (forged, "sb_test_" + "A" * 40, "garbage"):
        assert call("GET", "/v1/account", token=token).status == 401
    assert login("nobody@example.com", "wrong password entirely").status == 401
    assert _trail(team["account_id"]) == before


def test_a_throttled_login_of_a_known_user_is_one_denied_event_per_attempt(team: dict[str, str]) -> None:
    for _ in range(10):
        assert login("viewer@example.com", "not the password at all", ip="203.0.113.11").status == 401
    before = len(_denied(team["account_id"]))
    answer = login("viewer@example.com", PASSWORD, ip="203.0.113.11")
    assert answer.status == 429
    [event] = _denied(team["account_id"])[before:]
    assert (event["type"], event["actor"], event["source_ip"]) == ("login.throttled", team["viewer_id"], "203.0.113.11")
    failed = [e for e in _trail(team["account_id"]) if e["type"] == "login.failed"]
    assert len(failed) == 10 and {e["outcome"] for e in failed} == {"failure"}  # failed logins were already audited


def test_denied_events_are_capped_per_actor_and_minute(team: dict[str, str]) -> None:
    clock.advance(60 - clock.timestamp() % 60 + 1)  # the start of a minute: all attempts below fall in it
    for _ in range(audit.DENIED_PER_MINUTE + 15):
        assert call("GET", "/v1/audit-events", token=team["viewer"]).status == 403
    assert len(_denied(team["account_id"])) == audit.DENIED_PER_MINUTE
    # Another actor has its own cap; the next minute, the same actor's refusals are chained again.
    created = call("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"}, token=team["owner"]).body
    assert call("GET", "/v1/audit-events", token=created["key"]).status == 403
    assert len(_denied(team["account_id"])) == audit.DENIED_PER_MINUTE + 1
    clock.advance(60)
    assert call("GET", "/v1/audit-events", token=team["viewer"]).status == 403
    assert len(_denied(team["account_id"])) == audit.DENIED_PER_MINUTE + 2
    assert audit.verify(team["account_id"]).valid

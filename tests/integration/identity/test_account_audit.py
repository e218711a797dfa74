"""GET /v1/account and the audit routes (R54, R55): every role reads its account; owners and admins the trail."""

import boto3

from switchboard import settings
from tests.integration.identity.gateway import add_member, call, login, register

FIELDS = {"id", "type", "outcome", "actor", "at", "source_ip", "user_agent", "request_id", "target", "data"}


def test_account_every_role_and_key_reads_its_own_account(identity: dict[str, str]) -> None:
    register("olga@example.com", "Acme Widgets")
    owner = login("olga@example.com")
    account = call("GET", "/v1/account", token=owner)
    assert account.status == 200
    body = account.body
    assert body["id"].startswith("acct_")
    assert (body["name"], body["plan"], body["status"]) == ("Acme Widgets", "free", "active")
    assert body["created_at"].endswith("Z")
    assert "purge_after" not in body
    assert sorted(s["channel"] for s in body["senders"]) == ["sms", "voice", "whatsapp"]
    assert all(s["carrier"] == "sandbox-a" and s["number"].startswith("+1555") for s in body["senders"])
    add_member(owner, "vic@example.com", "viewer")
    viewer = login("vic@example.com")
    assert call("GET", "/v1/account", token=viewer).body == body
    key = call("POST", "/v1/api-keys", {"name": "ro", "role": "viewer"}, token=owner).body["key"]
    by_key = call("GET", "/v1/account", token=key)
    assert (by_key.status, by_key.body["id"]) == (200, body["id"])
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(by_key.headers)


def test_audit_events_newest_first_with_pagination(identity: dict[str, str]) -> None:
    register("olga@example.com")
    owner = login("olga@example.com")
    everything = call("GET", "/v1/audit-events", token=owner, query={"limit": "100"}).body
    assert everything["next_cursor"] is None
    types = [e["type"] for e in everything["data"]]
    assert types == ["session.created", "login.succeeded", "email.verified", "account.created"]
    newest = everything["data"][0]
    assert set(newest) >= FIELDS
    assert (newest["outcome"], newest["source_ip"], newest["user_agent"], newest["request_id"]) == (
        "success",
        "198.51.100.7",
        "pytest",
        "it-request",
    )
    first = call("GET", "/v1/audit-events", token=owner, query={"limit": "3"}).body
    assert [e["id"] for e in first["data"]] == [e["id"] for e in everything["data"][:3]]
    rest = call("GET", "/v1/audit-events", token=owner, query={"limit": "3", "cursor": first["next_cursor"]}).body
    assert [e["id"] for e in rest["data"]] == [everything["data"][3]["id"]]
    assert rest["next_cursor"] is None
    bad = call("GET", "/v1/audit-events", token=owner, query={"cursor": "bm9wZQ"})
    assert (bad.status, bad.body["code"]) == (400, "invalid_cursor")
    # "evt:1", the form this list issued before it used the one cursor codec: a clean 400, never a 500.
    outdated = call("GET", "/v1/audit-events", token=owner, query={"cursor": "ZXZ0OjE"})
    assert (outdated.status, outdated.body["code"]) == (400, "invalid_cursor")
    assert call("GET", "/v1/audit-events", token=owner, query={"limit": "0"}).status == 422
    assert call("GET", "/v1/audit-events", token=owner, query={"limit": "101"}).status == 422


def test_audit_verification_is_valid_then_detects_a_tampered_event(identity: dict[str, str]) -> None:
    register("olga@example.com")
    owner = login("olga@example.com")
    answer = call("GET", "/v1/audit-events/verification", token=owner)
    assert (answer.status, answer.body) == (200, {"valid": True, "checked": 4})
    events = call("GET", "/v1/audit-events", token=owner).body["data"]
    victim = events[-2]  # email.verified, the second event of the chain
    client = boto3.client("dynamodb")
    table = settings.get().table("AUDIT_TABLE")
    item = client.get_item(
        TableName=table, Key={"pk": {"S": f"ACCT#{victim['account_id']}"}, "sk": {"S": "EVT#000000000002"}}
    )
    stored = item["Item"]
    assert stored["id"]["S"] == victim["id"]
    stored["outcome"] = {"S": "failure"}
    client.put_item(TableName=table, Item=stored)
    broken = call("GET", "/v1/audit-events/verification", token=owner).body
    assert broken == {"valid": False, "checked": 2, "first_bad": victim["id"], "reason": "altered"}


def test_audit_routes_are_for_owners_and_admins(identity: dict[str, str]) -> None:
    register("olga@example.com")
    owner = login("olga@example.com")
    for role in ("admin", "developer", "agent", "viewer"):
        add_member(owner, f"{role}@example.com", role)
        token = login(f"{role}@example.com")
        expected = 200 if role == "admin" else 403
        assert call("GET", "/v1/audit-events", token=token).status == expected, role
        assert call("GET", "/v1/audit-events/verification", token=token).status == expected, role

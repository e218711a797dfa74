"""The operator secrets routes through their handler: security operators list and rotate, audited, never a value."""

import json
from typing import Any

import pytest

from functions.ops_secrets_api import handler
from switchboard import operators
from switchboard.logic import audit, secret_rotation
from tests.integration.conftest import Context, rest_event

ACCOUNT = "123456789012"


def call(
    method: str,
    path: str,
    *,
    role: str = "security",
    operator: str = "alice",
    mfa: str = "true",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The handler with the identity API Gateway fills for an IAM-authorized call from an assumed operator role."""
    event = rest_event(method, path)
    event["requestContext"]["identity"].update(
        {
            "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/switchboard-local-operator-{role}/{operator}",
            operators.LOCAL_MFA_FIELD: mfa,
        }
    )
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    result = handler.lambda_handler(event, Context())
    raw = result.get("body")
    return result["statusCode"], json.loads(raw) if raw else None


def test_a_security_operator_lists_versions_and_dates_never_values(identity: dict[str, str]) -> None:
    status, listed = call("GET", "/ops/v1/secrets")
    assert status == 200, listed
    assert [s["name"] for s in listed["data"]] == ["password-pepper", "api-key-pepper", "blind-index-key"]
    assert listed["data"][0]["versions"] == [
        {"version": "password_v1", "number": 1, "created_at": None, "current": True}
    ]
    assert not any(value in json.dumps(listed) for value in identity.values())


def test_rotating_adds_a_version_audited_in_the_platform_trail_and_twice_quickly_adds_two(
    identity: dict[str, str],
) -> None:
    status, first = call("POST", "/ops/v1/secrets/api-key-pepper/rotate")
    assert status == 201, first
    assert (first["name"], first["version"], first["previous"]) == ("api-key-pepper", "api_key_v2", "api_key_v1")
    status, second = call("POST", "/ops/v1/secrets/api-key-pepper/rotate", operator="bob")
    assert status == 201, second
    assert (second["version"], second["previous"]) == ("api_key_v3", "api_key_v2")
    _, listed = call("GET", "/ops/v1/secrets")
    versions = [(v["version"], v["current"]) for v in listed["data"][1]["versions"]]
    assert versions == [("api_key_v3", True), ("api_key_v2", False), ("api_key_v1", False)]
    events = audit.list_events(secret_rotation.PLATFORM_TRAIL).data
    target = {"secret": "api-key-pepper"}  # pragma: allowlist secret - a name, not a value
    assert [(e.type, e.actor, e.target, e.data["version"]) for e in events] == [
        ("secret.rotated", "operator:bob", target, "api_key_v3"),
        ("secret.rotated", "operator:alice", target, "api_key_v2"),
    ]
    assert audit.verify(secret_rotation.PLATFORM_TRAIL).valid  # chained and MACed like an account's trail


def test_an_unknown_secret_is_404_and_nothing_changes(identity: dict[str, str]) -> None:
    for name in ("audit-mac-key", "password", "..%2Fpeppers", "PASSWORD-PEPPER"):
        status, problem = call("POST", f"/ops/v1/secrets/{name}/rotate")
        assert status == 404, (name, problem)
    _, listed = call("GET", "/ops/v1/secrets")
    assert all(len(s["versions"]) == 1 for s in listed["data"])
    assert audit.list_events(secret_rotation.PLATFORM_TRAIL).data == []


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ({"role": "support", "operator": "carol"}, "forbidden"),  # support may not rotate or list secrets
        ({"mfa": "false"}, operators.MFA_REQUIRED),
    ],
)
def test_support_operators_and_operators_without_mfa_are_refused(
    identity: dict[str, str], who: dict[str, str], code: str
) -> None:
    for method, path in (("GET", "/ops/v1/secrets"), ("POST", "/ops/v1/secrets/password-pepper/rotate")):
        status, problem = call(method, path, **who)
        assert (status, problem["code"]) == (403, code)
    _, listed = call("GET", "/ops/v1/secrets")
    assert listed["data"][0]["versions"][0]["version"] == "password_v1"


def test_customer_credentials_are_refused_on_the_secrets_routes(identity: dict[str, str]) -> None:
    for credential in ("sbs_" + "a" * 43, "sb_live_key_" + "0" * 26 + "_" + "b" * 43):  # a session, an API key
        status, problem = call(
            "POST", "/ops/v1/secrets/password-pepper/rotate", headers={"Authorization": f"Bearer {credential}"}
        )
        assert (status, problem["code"]) == (403, operators.OPERATOR_REQUIRED)
    _, listed = call("GET", "/ops/v1/secrets")
    assert listed["data"][0]["versions"][0]["version"] == "password_v1"

"""Operators (R31, R18, R34): the permission table, who a signed request comes from, and the operator route policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import Response

from switchboard import api, catalog, operators
from switchboard.models.errors import Forbidden
from switchboard.models.permissions import Permission
from switchboard.operators import OperatorPermission, OperatorRole
from tests.lambda_context import Context

ACCOUNT = "123456789012"
SECURITY_ONLY = {
    OperatorPermission.ACCESS_APPROVE,
    OperatorPermission.ACCOUNTS_RESTRICT,
    OperatorPermission.SESSIONS_END,
    OperatorPermission.KEYS_REVOKE,
    OperatorPermission.PASSWORDS_RESET,
    OperatorPermission.SECRETS_ROTATE,
    OperatorPermission.INCIDENTS_MANAGE,
}


@pytest.fixture(autouse=True)
def _stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGE", "local")


def arn(role: str = "switchboard-local-operator-security", session: str = "alice") -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


def event(user_arn: str | None, *, mfa: str | None = "true", headers: dict[str, str] | None = None) -> dict[str, Any]:
    identity: dict[str, Any] = {"sourceIp": "127.0.0.1", "userAgent": "pytest", "userArn": user_arn}
    if mfa is not None:
        identity[operators.LOCAL_MFA_FIELD] = mfa
    return {"headers": headers or {}, "requestContext": {"identity": identity}}


def test_support_holds_the_reading_and_asking_permissions_and_security_holds_every_one() -> None:
    support = {p for p in OperatorPermission if operators.allows(OperatorRole.SUPPORT, p)}
    assert support == set(OperatorPermission) - SECURITY_ONLY
    assert all(operators.allows("security", p) for p in OperatorPermission)
    assert not any(operators.allows(role, OperatorPermission.SELF_READ) for role in ("owner", "admin", "", "root"))


def test_an_assumed_operator_role_of_this_stage_is_an_operator() -> None:
    assert operators.operator_of(event(arn())) == operators.Operator("alice", "security", mfa=True)
    carol = operators.operator_of(event(arn("switchboard-local-operator-support", "carol")))
    assert (carol.role, carol.actor) == ("support", "operator:carol")


def test_without_the_local_mfa_field_an_assumed_role_has_mfa_through_its_trust_policy() -> None:
    assert operators.operator_of(event(arn(), mfa=None)).mfa is True
    assert operators.operator_of(event(arn(), mfa="false")).mfa is False


@pytest.mark.parametrize(
    "user_arn",
    [
        None,
        "",
        f"arn:aws:iam::{ACCOUNT}:user/alice",  # an IAM user, not an assumed operator role
        f"arn:aws:iam::{ACCOUNT}:root",
        arn("switchboard-prod-operator-security"),  # another stage's role
        arn("switchboard-local-operator-admin"),  # no such operator role
        arn("switchboard-local-deployer"),
        arn("switchboard-local-operator-security", "a"),  # not a valid session name
        arn("switchboard-local-operator-security", "alice bob"),
        arn("switchboard-local-operator-security") + "/extra",
        "arn:aws:sts::1234:assumed-role/switchboard-local-operator-security/alice",
    ],
)
def test_anything_but_an_operator_role_of_this_stage_is_refused(user_arn: str | None) -> None:
    with pytest.raises(Forbidden) as refused:
        operators.operator_of(event(user_arn))
    assert refused.value.instance_code == operators.OPERATOR_REQUIRED


def test_mfa_is_checked_before_the_role_and_names_r18s_problem() -> None:
    no_mfa = operators.Operator("dave", "security", mfa=False)
    with pytest.raises(Forbidden) as refused:
        operators.require(no_mfa, OperatorPermission.SELF_READ)
    assert refused.value.instance_code == "mfa-enrolment-required"
    with pytest.raises(Forbidden) as refused:
        operators.require(operators.Operator("carol", "support", mfa=True), OperatorPermission.ACCOUNTS_RESTRICT)
    assert refused.value.instance_code == "forbidden"


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer sbs_abc"}, {"authorization": "Bearer sb_test_abc"}, {"Cookie": "__Host-session=x"}],
)
def test_a_customer_credential_is_refused_even_beside_an_operator_identity(headers: dict[str, str]) -> None:
    with pytest.raises(Forbidden) as refused:
        operators.enforce(event(arn(), headers=headers), OperatorPermission.SELF_READ)
    assert refused.value.instance_code == operators.OPERATOR_REQUIRED


def test_operator_routes_and_customer_routes_keep_to_their_own_permissions_and_paths() -> None:
    with pytest.raises(ValueError, match="operator permission"):
        catalog.Route("GET", "/ops/v1/x", catalog.Auth.OPERATOR, "x", permission=Permission.ACCOUNT_READ)
    with pytest.raises(ValueError, match="operator permission"):
        catalog.Route("GET", "/ops/v1/x", catalog.Auth.OPERATOR, "x", permission=None)
    with pytest.raises(ValueError, match="/ops/v1/"):
        catalog.Route("GET", "/v1/x", catalog.Auth.OPERATOR, "x", permission=OperatorPermission.SELF_READ)
    for auth in (catalog.Auth.ANY, catalog.Auth.SESSION):
        with pytest.raises(ValueError, match=r"Auth\.OPERATOR"):
            catalog.Route("GET", "/v1/x", auth, "x", permission=OperatorPermission.SELF_READ)
        with pytest.raises(ValueError, match=r"Auth\.OPERATOR"):
            catalog.Route("GET", "/ops/v1/x", auth, "x", permission=Permission.ACCOUNT_READ)
    with pytest.raises(ValueError, match=r"Auth\.OPERATOR"):
        catalog.Route("GET", "/ops/v1/health", catalog.Auth.PUBLIC, "x", permission=None)


def test_the_customer_api_has_no_operator_route_and_the_operator_api_only_operator_routes() -> None:
    assert catalog.operator_routes(), "the catalog declares the operator API"
    assert all(r.auth is not catalog.Auth.OPERATOR and not r.path.startswith("/ops/") for r, _ in catalog.routes())
    for route, _ in catalog.operator_routes():
        assert route.path.startswith(operators.OPS_PREFIX)
        assert isinstance(route.permission, OperatorPermission)
    assert len(catalog.all_routes()) == len(catalog.routes()) + len(catalog.operator_routes())


# --- the route policy, through the shared resolver -------------------------------------------------------------------

RESTRICT = catalog.Route(
    "POST", "/ops/v1/test/restrict", catalog.Auth.OPERATOR, "x", permission=OperatorPermission.ACCOUNTS_RESTRICT
)
READ = catalog.Route("GET", "/ops/v1/test/read", catalog.Auth.OPERATOR, "x", permission=OperatorPermission.SELF_READ)


def _app(ran: list[str]) -> Any:
    app = api.build_resolver([RESTRICT, READ])

    @app.post("/ops/v1/test/restrict")
    def restrict() -> Response[str]:
        ran.append(operators.operator_of(app).id)
        return Response(status_code=200, content_type="application/json", body="{}")

    @app.get("/ops/v1/test/read")
    def read() -> Response[str]:
        ran.append(operators.operator_of(app).id)
        return Response(status_code=200, content_type="application/json", body="{}")

    return app


def _proxy(route: catalog.Route, identity_event: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": route.path,
        "path": route.path,
        "httpMethod": route.method,
        "headers": identity_event["headers"],
        "multiValueHeaders": {k: [v] for k, v in identity_event["headers"].items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"requestId": "r", **identity_event["requestContext"]},
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("route", "caller", "expected"),
    [
        (RESTRICT, event(arn()), (200, None)),
        (RESTRICT, event(arn("switchboard-local-operator-support", "carol")), (403, "forbidden")),
        (READ, event(arn("switchboard-local-operator-support", "carol")), (200, None)),
        (READ, event(arn(), mfa="false"), (403, "mfa-enrolment-required")),
        (RESTRICT, event(arn(), mfa="false"), (403, "mfa-enrolment-required")),
        (READ, event(None), (403, "operator_required")),
        (READ, event(arn(), headers={"Authorization": "Bearer sbs_x"}), (403, "operator_required")),
    ],
)
def test_the_route_policy_runs_before_the_route(
    route: catalog.Route, caller: dict[str, Any], expected: tuple[int, str | None]
) -> None:
    ran: list[str] = []
    result = _app(ran).resolve(_proxy(route, caller), Context())
    code = json.loads(result["body"]).get("code") if result["statusCode"] != 200 else None
    assert (result["statusCode"], code) == expected
    assert ran == ([] if expected[0] != 200 else [operators.operator_of(caller).id])


def test_a_customer_authorizer_context_on_an_operator_route_is_refused_and_audited_as_denied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The operator API has no customer authorizer; were a customer's context ever to reach an operator route, the
    # route refuses it outright and the refusal is audited in that customer's account (R54).
    from switchboard.logic import audit  # noqa: PLC0415

    denied: list[tuple[str, Any]] = []
    monkeypatch.setattr(audit, "record_denied", lambda **event: denied.append((event["account_id"], event["data"])))
    caller = event(arn())
    caller["requestContext"]["authorizer"] = {"account_id": "acct_x", "principal": "usr_x", "role": "owner"}
    result = _app([]).resolve(_proxy(READ, caller), Context())
    assert (result["statusCode"], json.loads(result["body"])["code"]) == (403, "operator_required")
    assert [(account, data["code"]) for account, data in denied] == [("acct_x", "operator_required")]

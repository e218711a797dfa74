"""The operator API in the synthesized templates: IAM auth on every method, MFA roles, and R31 in IAM too."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from infra.constructs.ops_api import MAX_SESSION, OPS_GATEWAY_ERRORS
from infra.constructs.rest_api import STAGE_NAME
from switchboard import catalog, operators
from tests.infra import iam
from tests.infra.conftest import Assembly

STAGES = ("dev", "prod")
_PARAM = re.compile(r"\{[^}]+\}")


def ops_template(assembly: Assembly, stage: str) -> tuple[str, dict[str, Any]]:
    """The nested operator API stack: its logical id in the API stack, and its template."""
    api = assembly.raw_template(stage, "api")
    (logical_id,) = [
        k for k, r in api["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack" and k.startswith("Ops")
    ]
    # CDK writes a nested stack's template beside its parent's, named after the construct path.
    (path,) = assembly.outdir.glob(f"Switchboard{stage}ApiOps*.nested.template.json")
    return logical_id, json.loads(path.read_text())


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def method_paths(template: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(HTTP method, path, authorization type) of every method, paths rebuilt from the resource tree."""
    resources = of_type(template, "AWS::ApiGateway::Resource")

    def path(reference: Any) -> str:
        if "Ref" not in reference:
            return ""  # the API's root resource (Fn::GetAtt RootResourceId)
        resource = resources[reference["Ref"]]["Properties"]
        return f"{path(resource['ParentId'])}/{resource['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]), m["Properties"]["AuthorizationType"])
        for m in of_type(template, "AWS::ApiGateway::Method").values()
    }


@pytest.mark.parametrize("stage", STAGES)
def test_every_ops_api_method_is_aws_iam_and_serves_exactly_the_operator_routes(assembly: Assembly, stage: str) -> None:
    _, template = ops_template(assembly, stage)
    expected = {(r.method, r.path, "AWS_IAM") for r, _ in catalog.operator_routes()}
    assert method_paths(template) == expected
    (rest_api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    assert rest_api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    for method in of_type(template, "AWS::ApiGateway::Method").values():
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
        assert "RequestValidatorId" in method["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_customer_api_has_no_operator_route_and_the_ops_api_no_customer_route(
    assembly: Assembly, stage: str
) -> None:
    customer = method_paths(assembly.raw_template(stage, "api"))
    assert customer, "the customer API has methods"
    assert not any(path.startswith("/ops") for _, path, _ in customer)
    assert not any(auth == "AWS_IAM" for _, _, auth in customer)
    _, template = ops_template(assembly, stage)
    assert all(path.startswith(operators.OPS_PREFIX) for _, path, _ in method_paths(template))


def roles(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Role name -> (logical id, properties) of the operator roles."""
    return {
        r["Properties"]["RoleName"]: (k, r["Properties"])
        for k, r in of_type(template, "AWS::IAM::Role").items()
        if "-operator-" in str(r["Properties"].get("RoleName"))
    }


@pytest.mark.parametrize("stage", STAGES)
def test_operator_roles_are_assumed_only_with_mfa_from_the_account_for_an_hour_at_most(
    assembly: Assembly, stage: str
) -> None:
    _, template = ops_template(assembly, stage)
    found = roles(template)
    assert set(found) == {operators.role_name(stage, role) for role in operators.OperatorRole}
    for _, props in found.values():
        assert props["MaxSessionDuration"] <= MAX_SESSION.to_seconds() <= 3600
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
        assert ":root" in json.dumps(trust["Principal"]["AWS"])
        assert assembly.configs[stage].account in json.dumps(trust["Principal"]["AWS"])
        assert "ManagedPolicyArns" not in props


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resolve(value: Any, api_id: str) -> str:
    """An ARN of the nested template as a plain string (the API's own id as `<api>`)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws"}.get(value["Ref"], "<api>" if value["Ref"] == api_id else f"<{value['Ref']}>")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(part, api_id) for part in parts)
    raise AssertionError(f"unexpected template value {value}")


def _policies(template: dict[str, Any], api_id: str) -> tuple[dict[str, list[iam.Statement]], list[iam.Statement]]:
    """Each operator role's identity statements (by role name) and the API's resource policy, resolved."""
    names = {logical_id: name for name, (logical_id, _) in roles(template).items()}
    identity: dict[str, list[iam.Statement]] = {name: [] for name in names.values()}
    for logical_id, policy in of_type(template, "AWS::IAM::Policy").items():
        for role in policy["Properties"]["Roles"]:
            if role.get("Ref") in names:
                document = json.loads(json.dumps(policy["Properties"]["PolicyDocument"]))
                for raw in document["Statement"]:
                    raw["Resource"] = [_resolve(r, api_id) for r in _as_list(raw["Resource"])]
                identity[names[role["Ref"]]] += iam.statements(document, logical_id)
    (rest_api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    document = json.loads(json.dumps(rest_api["Properties"]["Policy"]))
    for raw in document["Statement"]:
        prefix = "arn:aws:execute-api:{region}:{account}:<api>/"
        raw["Resource"] = [r.replace("execute-api:/", prefix) for r in _as_list(raw["Resource"])]
        principal = raw.get("Principal")
        if isinstance(principal, dict):
            raw["Principal"] = {"AWS": [_resolve(p, api_id) for p in _as_list(principal["AWS"])]}
        for keys in (raw.get("Condition") or {}).values():
            for key, values in keys.items():
                keys[key] = [_resolve(v, api_id) for v in _as_list(values)]
    return identity, iam.statements(document, "OpsApi policy")


@pytest.mark.parametrize("stage", STAGES)
def test_each_role_invokes_exactly_the_routes_its_permissions_allow_and_nobody_else_any(
    assembly: Assembly, stage: str
) -> None:
    config = assembly.configs[stage]
    _, template = ops_template(assembly, stage)
    (api_id,) = of_type(template, "AWS::ApiGateway::RestApi")
    identity, resource_policy = _policies(template, api_id)
    fill = {"{region}": config.region, "{account}": config.account}
    for statement_list in (resource_policy, *identity.values()):
        for index, statement in enumerate(statement_list):
            resources = tuple(_fill(r, fill) for r in statement.resources)
            statement_list[index] = dataclasses.replace(statement, resources=resources)
    outsider = f"arn:aws:iam::{config.account}:role/switchboard-{stage}-deployer"
    for route, _ in catalog.operator_routes():
        concrete = _PARAM.sub("acct_x", route.path)
        arn = f"arn:aws:execute-api:{config.region}:{config.account}:<api>/{STAGE_NAME}/{route.method}{concrete}"
        for role in operators.OperatorRole:
            role_arn = f"arn:aws:iam::{config.account}:role/{operators.role_name(stage, role)}"
            request = iam.Request(role_arn, "execute-api:Invoke", arn, {"aws:principalarn": role_arn})
            decision = iam.evaluate(request, identity[operators.role_name(stage, role)], resource_policy)
            assert isinstance(route.permission, operators.OperatorPermission)
            assert decision.allowed == operators.allows(role, route.permission), (role, route.path, decision)
        # Another principal of the account, even one whose own policy allowed everything, is denied explicitly.
        request = iam.Request(outsider, "execute-api:Invoke", arn, {"aws:principalarn": outsider})
        everything = iam.statements({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "admin")
        assert not iam.evaluate(request, everything, resource_policy).allowed


def _fill(value: str, fill: dict[str, str]) -> str:
    for placeholder, actual in fill.items():
        value = value.replace(placeholder, actual)
    return value.replace("<AWS::Region>", fill["{region}"]).replace("<AWS::AccountId>", fill["{account}"])


@pytest.mark.parametrize("stage", STAGES)
def test_ops_stage_logs_to_a_cmk_log_group_throttles_traces_and_sits_behind_the_waf(
    assembly: Assembly, stage: str
) -> None:
    logical_id, template = ops_template(assembly, stage)
    (api_stage_id, api_stage) = next(iter(of_type(template, "AWS::ApiGateway::Stage").items()))
    props = api_stage["Properties"]
    assert props["StageName"] == STAGE_NAME and props["TracingEnabled"] is True
    fields = json.loads(props["AccessLogSetting"]["Format"])
    assert fields["userArn"] == "$context.identity.userArn"
    (destination,) = props["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][:1]
    log_group = template["Resources"][destination]
    assert log_group["Type"] == "AWS::Logs::LogGroup" and "KmsKeyId" in log_group["Properties"]
    assert all("KmsKeyId" in g["Properties"] for g in of_type(template, "AWS::Logs::LogGroup").values())
    for setting in props["MethodSettings"]:
        assert setting.get("DataTraceEnabled", False) is False
    (association,) = of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    assert api_stage_id in json.dumps(association["Properties"]["ResourceArn"])
    # The web ACL is the customer API's (one firewall), handed to the nested stack as a parameter.
    parent = assembly.raw_template(stage, "api")["Resources"][logical_id]["Properties"]["Parameters"]
    (acl_id,) = assembly.resources(stage, "AWS::WAFv2::WebACL")
    (parameter,) = [k for k, v in parent.items() if v == {"Fn::GetAtt": [acl_id, "Arn"]}]
    assert association["Properties"]["WebACLArn"] == {"Ref": parameter}


@pytest.mark.parametrize("stage", STAGES)
def test_iam_refusals_on_the_ops_api_are_403_problem_json(assembly: Assembly, stage: str) -> None:
    _, template = ops_template(assembly, stage)
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {e.response_type for e in OPS_GATEWAY_ERRORS}
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "EXPIRED_TOKEN", "ACCESS_DENIED"):
        assert responses[kind]["StatusCode"] == "403"
        assert json.loads(responses[kind]["ResponseTemplates"]["application/problem+json"])["code"] == "forbidden"


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_stack_outputs_the_ops_api_url_for_the_cli(assembly: Assembly, stage: str) -> None:
    logical_id, _ = ops_template(assembly, stage)
    outputs = assembly.raw_template(stage, "api")["Outputs"]
    (url,) = [o for name, o in outputs.items() if name.startswith("OpsApiUrl")]
    assert logical_id in json.dumps(url["Value"])


def test_a_role_is_denied_each_route_it_lacks_even_under_a_path_it_may_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.constructs import ops_api  # noqa: PLC0415

    security_only = catalog.Function(
        name="ops_test_only",
        description="test-only",
        routes=(
            catalog.Route(
                "GET",
                "/ops/v1/accounts/{account_id}/sessions",  # under support's GET /ops/v1/accounts/* grant
                catalog.Auth.OPERATOR,
                "x",
                permission=operators.OperatorPermission.SESSIONS_END,
            ),
            catalog.Route(
                "POST",
                "/ops/v1/accounts/{account_id}/suspend",
                catalog.Auth.OPERATOR,
                "x",
                permission=operators.OperatorPermission.ACCOUNTS_RESTRICT,
            ),
        ),
    )
    # The catalog's own security-only routes (the incident actions) are refused to support already.
    before = {(r.method, r.path) for r in ops_api.refused_routes(operators.OperatorRole.SUPPORT)}
    monkeypatch.setattr(catalog, "FUNCTIONS", (*catalog.FUNCTIONS, security_only))
    refused = {(r.method, r.path) for r in ops_api.refused_routes(operators.OperatorRole.SUPPORT)}
    assert refused == before | {(r.method, r.path) for r in security_only.routes}
    assert ops_api.refused_routes(operators.OperatorRole.SECURITY) == []
    support = {(r.method, r.path) for r in ops_api.routes_of(operators.OperatorRole.SUPPORT)}
    assert not support & refused

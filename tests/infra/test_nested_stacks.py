"""The API stack's split into nested stacks: every template under CloudFormation's 500 resources with headroom in the
API stack, the customer API wholly in its nested stack, cdk-nag checking it, and merge_nested's wiring."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App

from infra import nag
from infra.config import StageConfig, stack_names
from infra.stages import add_checks, add_stage
from switchboard import catalog
from tests.infra.conftest import NESTED_STACK, ROOT, STAGES, Assembly, merge_nested, nested_templates

CLOUDFORMATION_LIMIT = 500  # resources per template
# What the API stack itself may hold: the rest of the 500 is room for new functions (each about 9 resources with its
# alias, CodeDeploy group and invoke permission); a change that passes this moves a concern into a nested stack.
API_STACK_BUDGET = 400
# Only the customer API's nested stack holds these (the operator API's own RestApi is in `Ops`); the web ACL itself
# stays in the API stack (infra/constructs/customer_api.py says why).
# The construct id of each RestApi in the customer nested stack.
CONSTRUCTS = {catalog.Api.CUSTOMER: "Rest", catalog.Api.LINKS: "Links", catalog.Api.CONSOLE: "Console"}
API_TYPES = ("AWS::ApiGateway::", "AWS::WAFv2::WebACLAssociation", "AWS::CertificateManager::")


def _synthesized(assembly: Assembly, stage: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The API stack's template as CDK wrote it (nothing merged) and its nested templates by logical id."""
    _, api_name = stack_names(stage)
    parent = json.loads((assembly.outdir / f"{api_name}.template.json").read_text())
    return parent, nested_templates(assembly.outdir, parent, api_name)


def _nested_id(nested: dict[str, dict[str, Any]], construct_id: str) -> str:
    (logical_id,) = [k for k in nested if k.startswith(f"{construct_id}NestedStack")]
    return logical_id


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_stack_keeps_headroom_and_every_template_stays_under_the_limit(assembly: Assembly, stage: str) -> None:
    parent, nested = _synthesized(assembly, stage)
    counts = {"Api": len(parent["Resources"])}
    counts |= {logical_id.partition("NestedStack")[0]: len(t["Resources"]) for logical_id, t in nested.items()}
    print(f"{stage}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    assert set(counts) == {"Api", "Customer", "Monitoring", "Ops"}
    assert counts["Api"] <= API_STACK_BUDGET, counts
    assert all(count < CLOUDFORMATION_LIMIT for count in counts.values()), counts
    # The other stacks of the stage, for completeness.
    for which in ("bootstrap", "data"):
        assert len(assembly.raw_template(stage, which)["Resources"]) < CLOUDFORMATION_LIMIT, which


@pytest.mark.parametrize("stage", STAGES)
def test_the_customer_api_its_domain_waf_and_invoke_permissions_are_all_in_its_nested_stack(
    assembly: Assembly, stage: str
) -> None:
    parent, nested = _synthesized(assembly, stage)
    assert not [k for k, r in parent["Resources"].items() if r["Type"].startswith(API_TYPES)]
    customer = nested[_nested_id(nested, "Customer")]["Resources"]
    # The customer API, the media links' and the console's own RestApis, mapped on the same domain.
    rest_apis = [k for k, r in customer.items() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(rest_apis) == len(catalog.Api)
    assert {r["Type"] for r in customer.values()} >= {
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGateway::BasePathMapping",
        "AWS::ApiGatewayV2::ApiMapping",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::ApiGateway::Authorizer",
    }
    # API Gateway's invoke permissions sit beside the API they name (scoped to it: tests/infra/test_deploy.py):
    # one per function it serves, none in the API stack.
    permissions = [r["Properties"] for r in customer.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permissions
    assert all(sum(api in json.dumps(p["SourceArn"]) for api in rest_apis) == 1 for p in permissions)
    in_parent = [
        r["Properties"]["SourceArn"]
        for r in parent["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    # What remains in the parent is the operator API's (its RestApi's id comes from the Ops nested stack).
    ops = _nested_id(nested, "Ops")
    assert in_parent
    assert all(ops in json.dumps(source) for source in in_parent)


@pytest.mark.parametrize("stage", STAGES)
def test_no_resource_of_the_api_stack_reads_the_customer_api_so_deploys_have_no_cycle(
    assembly: Assembly, stage: str
) -> None:
    # The customer API depends on the `live` aliases, they on their CodeDeploy groups, those on the alarms: a
    # resource (an alarm, another nested stack's parameter) reading its outputs would close a cycle (cfn-lint E3004).
    parent, nested = _synthesized(assembly, stage)
    customer = _nested_id(nested, "Customer")
    readers = [k for k, r in parent["Resources"].items() if k != customer and customer in json.dumps(r)]
    assert readers == []
    (output,) = [name for name, o in parent["Outputs"].items() if customer in json.dumps(o)]
    assert output == "RegionalDomainName"
    # The web ACL comes the other way: the API stack's, passed to the customer (and operator) API's association.
    (web_acl,) = [k for k, r in parent["Resources"].items() if r["Type"] == "AWS::WAFv2::WebACL"]
    passed = parent["Resources"][customer]["Properties"]["Parameters"]
    (parameter,) = [name for name, value in passed.items() if value == {"Fn::GetAtt": [web_acl, "Arn"]}]
    associations = [
        r["Properties"] for r in nested[customer]["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"
    ]
    assert len(associations) == 3  # the customer API's stage, the links API's and the console's
    assert all(association["WebACLArn"] == {"Ref": parameter} for association in associations)


def test_cdk_nag_checks_the_customer_api_nested_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without its acknowledgements, the 405 catch-alls of the nested customer API fail synthesis.
    acknowledge: Callable[..., None] = nag._ack

    def without_catch_alls(scope: Any, finding: str, reason: str) -> None:
        if not (reason == nag.Reason.METHOD_NOT_ALLOWED and "/Customer/" in scope.node.path):
            acknowledge(scope, finding, reason)

    monkeypatch.setattr(nag, "_ack", without_catch_alls)
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    with tempfile.TemporaryDirectory() as outdir:
        app = App(context=context, outdir=outdir)
        add_stage(app, StageConfig.from_context("dev", context["stages"]))
        add_checks(app)
        with pytest.raises(RuntimeError, match="ValidationFailed") as failed:
            app.synth()
    # Every catch-all is reported, with both findings its acknowledgements carried.
    message = str(failed.value)
    assert "'AwsSolutions::AwsSolutions-APIG4'" in message
    assert "'AwsSolutions::AwsSolutions-COG4'" in message
    paths = {route.path for route, _ in catalog.routes()}
    missing = [
        p
        for p in paths
        if f"Switchboard-dev-Api/Customer/{CONSTRUCTS[catalog.api_of(p)]}/Api/Default"
        f"{catalog.api_resource(p).rstrip('/')}/ANY/Resource" not in message
    ]
    assert missing == []


def _nested(**parameters: Any) -> dict[str, Any]:
    return {"Type": NESTED_STACK, "Properties": {"TemplateURL": "x", "Parameters": parameters}}


@pytest.mark.parametrize("first", ["Customer", "Monitoring"])
def test_merge_nested_wires_one_nested_stacks_output_into_another_in_either_order(first: str) -> None:
    # One merged stack's output read by another merged stack and by a kept one, as CDK wires cross-nested references.
    acl = {"Fn::GetAtt": ["CustomerStack", "Outputs.Acl"]}
    stacks = {
        "CustomerStack": _nested(PKey={"Ref": "Key"}),
        "MonitoringStack": _nested(PAcl=acl),
        "OpsStack": _nested(PAcl=acl),
    }
    order = [f"{first}Stack", *(k for k in stacks if k != f"{first}Stack")]
    parent = {
        "Parameters": {"Key": {"Type": "String"}},
        "Resources": {"Key": {"Type": "AWS::KMS::Key"}, **{k: stacks[k] for k in order}},
        "Outputs": {"Domain": {"Value": {"Fn::GetAtt": ["CustomerStack", "Outputs.Domain"]}}},
    }
    nested: dict[str, dict[str, Any]] = {
        "CustomerStack": {
            "Resources": {
                "WebAcl": {"Type": "AWS::WAFv2::WebACL"},
                "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": {"Ref": "PKey"}}},
                "Domain": {"Type": "AWS::ApiGateway::DomainName"},
            },
            "Outputs": {
                "Acl": {"Value": {"Fn::GetAtt": ["WebAcl", "Arn"]}},
                "Domain": {"Value": {"Fn::GetAtt": ["Domain", "RegionalDomainName"]}},
            },
        },
        "MonitoringStack": {
            "Resources": {"WafAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Acl": {"Ref": "PAcl"}}}}
        },
        "OpsStack": {"Resources": {}},
    }
    merge_nested(parent, nested, merged=("Customer", "Monitoring"))
    resources = parent["Resources"]
    assert set(resources) == {"Key", "WebAcl", "Logs", "Domain", "WafAlarm", "OpsStack"}
    assert resources["Logs"]["Properties"]["KmsKeyId"] == {"Ref": "Key"}
    assert resources["WafAlarm"]["Properties"]["Acl"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert resources["OpsStack"]["Properties"]["Parameters"]["PAcl"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert parent["Outputs"]["Domain"]["Value"] == {"Fn::GetAtt": ["Domain", "RegionalDomainName"]}

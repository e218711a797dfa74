"""Zero-downtime deploys (docs/alarms.md#deploys): `live` aliases everywhere traffic comes from, CodeDeploy canaries
rolled back by alarms, reserved worker concurrency, per-channel event source limits, provisioned authorizer."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from infra.config import StageConfig, StageError
from switchboard import catalog
from tests.infra import permissions
from tests.infra.conftest import STAGES, Assembly

ROUTED = {fn.name for _, fn in catalog.all_routes()}  # the operator API invokes `live` too
WORKERS = {spec.name for spec in catalog.FUNCTIONS if spec.consumes}
LIVE = ROUTED | WORKERS | {catalog.AUTHORIZER}


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _of(assembly: Assembly, stage: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in assembly.template(stage, "api")["Resources"].items() if r["Type"] == resource_type}


def _function_id(assembly: Assembly, stage: str, name: str) -> str:
    (found,) = [i for i in _of(assembly, stage, "AWS::Lambda::Function") if i.startswith(f"{_pascal(name)}Function")]
    return found


def _alias_of(assembly: Assembly, stage: str) -> dict[str, str]:
    """Catalog function -> logical id of its `live` alias."""
    functions = {_function_id(assembly, stage, spec.name): spec.name for spec in catalog.FUNCTIONS}
    found = {}
    for alias_id, alias in _of(assembly, stage, "AWS::Lambda::Alias").items():
        assert alias["Properties"]["Name"] == "live"
        found[functions[alias["Properties"]["FunctionName"]["Ref"]]] = alias_id
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_api_authorizer_and_workers_run_behind_live_and_jobs_do_not(assembly: Assembly, stage: str) -> None:
    aliases = _alias_of(assembly, stage)
    assert set(aliases) == LIVE
    assert not {spec.name for spec in catalog.FUNCTIONS if spec.schedule} & set(aliases)
    versions = _of(assembly, stage, "AWS::Lambda::Version")
    for alias_id in aliases.values():
        alias = _of(assembly, stage, "AWS::Lambda::Alias")[alias_id]
        assert alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0] in versions


@pytest.mark.parametrize("stage", STAGES)
def test_every_integration_and_the_authorizer_invoke_the_alias(assembly: Assembly, stage: str) -> None:
    aliases = _alias_of(assembly, stage)
    methods = [
        m["Properties"]
        for m in _of(assembly, stage, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] not in ("OPTIONS", "ANY")
    ]
    assert len(methods) == len(list(catalog.routes()))
    alias_ids = set(aliases.values())
    for method in methods:
        uri = json.dumps(method["Integration"]["Uri"])
        assert any(f'"{alias_id}"' in uri for alias_id in alias_ids), uri
        assert "Function" not in uri.replace("/functions/", "")  # never the unqualified function ($LATEST)
    (authorizer,) = _of(assembly, stage, "AWS::ApiGateway::Authorizer").values()
    assert aliases[catalog.AUTHORIZER] in json.dumps(authorizer["Properties"]["AuthorizerUri"])


@pytest.mark.parametrize("stage", STAGES)
def test_api_gateway_may_invoke_the_aliases_and_never_latest(assembly: Assembly, stage: str) -> None:
    model = permissions.build(
        stage, assembly.template(stage, "data"), assembly.raw_template(stage, "api"), assembly.configs[stage]
    )
    config = assembly.configs[stage]
    prefix = f"Switchboard-{stage}-Api-"  # how permissions.Resolver names a resource without a physical name
    (authorizer_id,) = _of(assembly, stage, "AWS::ApiGateway::Authorizer")
    # The customer and links APIs' functions (the operator API's invoke permissions: tests/infra/test_deploy.py).
    paths = {fn.name: route.path for route, fn in catalog.routes()}
    for name in sorted({*paths, catalog.AUTHORIZER}):
        rest_id = assembly.api_of(stage, paths.get(name, ""))
        execute_api = f"arn:aws:execute-api:{config.region}:{config.account}:{prefix}{rest_id}"
        function_arn = f"arn:aws:lambda:{config.region}:{config.account}:function:{prefix}"
        function_arn += _function_id(assembly, stage, name)
        alias_arn = f"{function_arn}:live"
        if name == catalog.AUTHORIZER:
            source = f"{execute_api}/authorizers/{prefix}{authorizer_id}"
        else:
            source = f"{execute_api}/live/GET/v1/anything"
        allowed = permissions.invoke(model, "apigateway.amazonaws.com", alias_arn, source)
        assert allowed.allowed, (name, allowed.reason)
        assert not permissions.invoke(model, "apigateway.amazonaws.com", function_arn, source).allowed, name
        # Another API (or account) calling with the alias is refused by the source condition.
        stranger = source.replace(rest_id, "AnotherApi")
        assert not permissions.invoke(model, "apigateway.amazonaws.com", alias_arn, stranger).allowed, name


@pytest.mark.parametrize("stage", STAGES)
def test_each_channels_event_source_invokes_the_alias_at_bounded_concurrency(assembly: Assembly, stage: str) -> None:
    config = assembly.configs[stage]
    aliases = _alias_of(assembly, stage)
    mappings = _of(assembly, stage, "AWS::Lambda::EventSourceMapping")
    consumed = sorted(spec.consumes for spec in catalog.FUNCTIONS if spec.consumes)
    assert len(mappings) == len(consumed) == len(catalog.QUEUES)
    for mapping in mappings.values():
        props = mapping["Properties"]
        assert props["ScalingConfig"] == {"MaximumConcurrency": config.worker_concurrency}
        target = json.dumps(props["FunctionName"])
        (worker,) = [w for w in WORKERS if f'"{aliases[w]}"' in target]
        assert target.endswith(':live"]]}')
        spec = catalog.function(worker)
        assert spec.consumes is not None
        assert f"{spec.consumes}Queue" in json.dumps(props["EventSourceArn"])


@pytest.mark.parametrize("stage", STAGES)
def test_workers_reserve_concurrency_so_the_api_and_authorizer_keep_theirs(assembly: Assembly, stage: str) -> None:
    config = assembly.configs[stage]
    functions = _of(assembly, stage, "AWS::Lambda::Function")
    for spec in catalog.FUNCTIONS:
        props = functions[_function_id(assembly, stage, spec.name)]["Properties"]
        if spec.name in WORKERS:
            # Its event source never maps more than it reserves: no throttling of its own batches either.
            assert props["ReservedConcurrentExecutions"] == config.worker_concurrency, spec.name
        else:
            assert "ReservedConcurrentExecutions" not in props, spec.name
    assert config.worker_concurrency == {"dev": 2, "prod": 20}[stage]


@pytest.mark.parametrize("stage", STAGES)
def test_authorizer_provisioned_concurrency_is_a_stage_setting(assembly: Assembly, stage: str) -> None:
    aliases = _of(assembly, stage, "AWS::Lambda::Alias")
    provisioned = {
        i: a["Properties"]["ProvisionedConcurrencyConfig"]["ProvisionedConcurrentExecutions"]
        for i, a in aliases.items()
        if "ProvisionedConcurrencyConfig" in a["Properties"]
    }
    expected = assembly.configs[stage].authorizer_provisioned_concurrency
    assert expected == {"dev": 0, "prod": 2}[stage]
    assert provisioned == ({_alias_of(assembly, stage)[catalog.AUTHORIZER]: expected} if expected else {})


@pytest.mark.parametrize("stage", STAGES)
def test_codedeploy_canaries_each_alias_and_rolls_back_on_its_alarms(assembly: Assembly, stage: str) -> None:
    aliases = _alias_of(assembly, stage)
    groups = _of(assembly, stage, "AWS::CodeDeploy::DeploymentGroup")
    alarms = _of(assembly, stage, "AWS::CloudWatch::Alarm")
    (ratio,) = [i for i in alarms if i.startswith("Api5xxRatio")]
    assert len(groups) == len(LIVE)
    for name, alias_id in aliases.items():
        alias = _of(assembly, stage, "AWS::Lambda::Alias")[alias_id]
        group_id = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]["Ref"]
        props = groups[group_id]["Properties"]
        assert props["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
        assert props["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
        rollback = props["AutoRollbackConfiguration"]
        assert rollback["Enabled"] is True
        assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["Events"])
        watched = {a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]}
        assert props["AlarmConfiguration"]["Enabled"] is True
        (errors,) = [i for i in alarms if i.startswith(f"{_pascal(name)}Errors")]
        (latency,) = [i for i in alarms if i.startswith(f"{_pascal(name)}LatencyP99")]
        assert watched == {errors, latency, ratio}, name


def test_a_stage_cannot_configure_an_event_source_below_sqs_minimum() -> None:
    dev = StageConfig.from_cdk_json("dev")
    with pytest.raises(StageError, match="worker_concurrency"):
        dataclasses.replace(dev, worker_concurrency=1)
    with pytest.raises(StageError, match="authorizer_provisioned_concurrency"):
        dataclasses.replace(dev, authorizer_provisioned_concurrency=-1)

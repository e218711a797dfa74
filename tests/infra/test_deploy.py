"""Deployability: stage switches (dev destroyable, prod protected), the bootstrap stack, SSM wiring, invoke policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import PROTECTIONS, TRUSTSTORE_KEY, bootstrap_stack_name, stack_names
from infra.constructs.backup import PROTECTED_ACTIONS
from infra.constructs.rest_api import STAGE_NAME
from infra.stacks.bootstrap_stack import truststore_parameters
from switchboard import catalog
from tests.infra.conftest import STAGES, Assembly

LAMBDA_POLICY_LIMIT = 20_480  # bytes: Lambda's resource-based policy limit per function


def _all_resources(assembly: Assembly, stage: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for which in ("bootstrap", "data", "api"):
        found.update(assembly.template(stage, which)["Resources"])
    return found


def _of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in resources.items() if r["Type"] == resource_type}


def test_cdk_json_turns_every_protection_off_in_dev_and_on_in_prod(assembly: Assembly) -> None:
    assert assembly.configs["dev"].protections() == []
    assert assembly.configs["prod"].protections() == list(PROTECTIONS)


def test_dev_has_nothing_that_outlives_or_blocks_a_stack_deletion(assembly: Assembly) -> None:
    resources = _all_resources(assembly, "dev")
    kept = {
        i: r["Type"]
        for i, r in resources.items()
        if "Retain" in (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
    }
    # Except the audit anchors bucket: Object Lock in compliance mode keeps its objects until their retention ends,
    # in every stage (that is its point); a stack deletion leaves it, its lifecycle empties it (docs/runbooks.md).
    anchors = {i for i in kept if i.startswith("AuditAnchorsBucket")}
    assert [kept.pop(i) for i in anchors] == ["AWS::S3::Bucket"]
    assert kept == {}
    for table in _of_type(resources, "AWS::DynamoDB::Table").values():
        assert not table["Properties"].get("DeletionProtectionEnabled", False)
    ((_, vault),) = _of_type(resources, "AWS::Backup::BackupVault").items()
    assert "AccessPolicy" not in vault["Properties"]
    assert vault["DeletionPolicy"] == "Delete"
    for bucket_id, bucket in _of_type(resources, "AWS::S3::Bucket").items():
        assert bucket["DeletionPolicy"] == ("Retain" if bucket_id in anchors else "Delete")
    # Every function logs to a group of its stack: Lambda would otherwise create one that outlives the stage.
    log_groups = _of_type(resources, "AWS::Logs::LogGroup")
    for function_id, function in _of_type(resources, "AWS::Lambda::Function").items():
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in log_groups, function_id
    for name in (*stack_names("dev"), bootstrap_stack_name("dev")):
        assert not assembly.manifest["artifacts"][name]["properties"].get("terminationProtection", False)


def test_prod_protects_tables_vault_data_and_stacks(assembly: Assembly) -> None:
    resources = _all_resources(assembly, "prod")
    for table in _of_type(resources, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"
    stateful = ("AWS::KMS::Key", "AWS::SQS::Queue", "AWS::SecretsManager::Secret", "AWS::S3::Bucket")
    queue_ids = tuple(spec.id for spec in catalog.QUEUES)
    for resource_type in stateful:
        found = {
            i: r
            for i, r in _of_type(resources, resource_type).items()
            if resource_type != "AWS::SQS::Queue" or i.startswith(queue_ids)  # catalog queues and their DLQs
        }
        assert found, resource_type
        assert {r["DeletionPolicy"] for r in found.values()} == {"Retain"}, resource_type
    ((_, vault),) = _of_type(resources, "AWS::Backup::BackupVault").items()
    assert vault["DeletionPolicy"] == "Retain"
    (deny,) = vault["Properties"]["AccessPolicy"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) == set(PROTECTED_ACTIONS)
    for name in (*stack_names("prod"), bootstrap_stack_name("prod")):
        assert assembly.manifest["artifacts"][name]["properties"]["terminationProtection"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_bootstrap_stack_holds_a_private_versioned_tls_only_truststore(assembly: Assembly, stage: str) -> None:
    resources = assembly.template(stage, "bootstrap")["Resources"]
    ((bucket_id, bucket),) = _of_type(resources, "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (policy,) = _of_type(resources, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The object: an S3 PutObject of the stage's PEM into that bucket, its VersionId the resource's identity.
    (put,) = _of_type(resources, "Custom::AWS").values()
    create = json.loads(_joined(put["Properties"]["Create"]))
    assert (create["service"], create["action"]) == ("S3", "putObject")
    assert create["parameters"]["Key"] == TRUSTSTORE_KEY
    assert create["physicalResourceId"] == {"responsePath": "VersionId"}
    assert _joined(put["Properties"]["Update"]) == _joined(put["Properties"]["Create"])
    # The provider may write that one object and nothing else.
    (provider_policy,) = _of_type(resources, "AWS::IAM::Policy").values()
    (statement,) = provider_policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:PutObject"
    assert json.dumps(statement["Resource"]).endswith(f'"/{TRUSTSTORE_KEY}"]]}}')


@pytest.mark.parametrize("stage", STAGES)
def test_api_reads_the_truststore_from_ssm_not_from_an_export(assembly: Assembly, stage: str) -> None:
    bucket_name, version_name = truststore_parameters(stage)
    published = {
        r["Properties"]["Name"]: r["Properties"]["Value"]
        for r in _of_type(assembly.template(stage, "bootstrap")["Resources"], "AWS::SSM::Parameter").values()
    }
    assert set(published) == {bucket_name, version_name}
    assert published[version_name] == {"Fn::GetAtt": [_custom_resource_id(assembly, stage), "VersionId"]}
    api = assembly.raw_template(stage, "api")
    parameters = {
        name: p["Default"] for name, p in api["Parameters"].items() if p["Type"] == "AWS::SSM::Parameter::Value<String>"
    }
    by_path = {path: name for name, path in parameters.items()}
    (domain,) = _of_type(api["Resources"], "AWS::ApiGateway::DomainName").values()
    mtls = domain["Properties"]["MutualTlsAuthentication"]
    assert mtls["TruststoreVersion"] == {"Ref": by_path[version_name]}
    assert mtls["TruststoreUri"] == {"Fn::Join": ["", ["s3://", {"Ref": by_path[bucket_name]}, f"/{TRUSTSTORE_KEY}"]]}
    # Deploy order without an export: the API stack depends on the bootstrap stack in the manifest.
    _, api_name = stack_names(stage)
    assert bootstrap_stack_name(stage) in assembly.manifest["artifacts"][api_name]["dependencies"]


@pytest.mark.parametrize("stage", STAGES)
def test_stacks_share_no_export_only_ssm_parameters(assembly: Assembly, stage: str) -> None:
    data_name, api_name = stack_names(stage)
    for which in ("bootstrap", "data", "api"):
        raw = assembly.raw_template(stage, which)
        assert "Fn::ImportValue" not in json.dumps(raw), which
        assert all("Export" not in output for output in raw.get("Outputs", {}).values()), which
    assert data_name in assembly.manifest["artifacts"][api_name]["dependencies"]
    # Every data resource the API stack uses arrives as an SSM-typed parameter the data stack publishes.
    published = {
        r["Properties"]["Name"]: r["Properties"]["Value"]
        for r in _of_type(assembly.raw_template(stage, "data")["Resources"], "AWS::SSM::Parameter").values()
    }
    read = {
        p["Default"]
        for p in assembly.raw_template(stage, "api")["Parameters"].values()
        if p["Type"] == "AWS::SSM::Parameter::Value<String>" and "/data/" in p["Default"]
    }
    assert read == set(published)
    expected = {f"/switchboard/{stage}/data/table/{t.id}" for t in catalog.TABLES}
    expected |= {f"/switchboard/{stage}/data/queue/{q.id}" for q in catalog.QUEUES}
    expected |= {f"/switchboard/{stage}/data/dlq/{q.id}" for q in catalog.QUEUES}
    expected |= {f"/switchboard/{stage}/data/secret/{s.id}" for s in catalog.secrets_for(stage)}
    assert expected <= read
    data = assembly.raw_template(stage, "data")["Resources"]
    for name, value in published.items():
        (target,) = [v for v in _walk(value) if isinstance(v, str) and v in data]  # a Ref/GetAtt of a data resource
        kind = name.split("/")[4]
        expected_type = {
            "table": "AWS::DynamoDB::Table",
            "queue": "AWS::SQS::Queue",
            "dlq": "AWS::SQS::Queue",  # each catalog queue's DLQ (the status page job reads its depth)
            "secret": "AWS::SecretsManager::Secret",
            "key": "AWS::KMS::Key",
            "bucket": "AWS::S3::Bucket",
            "topic": "AWS::SNS::Topic",
        }[kind]
        assert data[target]["Type"] == expected_type, name


@pytest.mark.parametrize("stage", STAGES)
def test_each_api_function_has_one_small_invoke_permission(assembly: Assembly, stage: str) -> None:
    api = assembly.template(stage, "api")
    resources = api["Resources"]
    functions = {i: r["Properties"]["Description"] for i, r in _of_type(resources, "AWS::Lambda::Function").items()}
    permissions: dict[str, list[dict[str, Any]]] = {}
    aliases = _of_type(resources, "AWS::Lambda::Alias")
    for permission in _of_type(resources, "AWS::Lambda::Permission").values():
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com":
            # API Gateway invokes the `live` alias (CodeDeploy shifts it): the permission is the alias's own.
            alias = aliases[permission["Properties"]["FunctionName"]["Ref"]]
            assert alias["Properties"]["Name"] == "live"
            target = alias["Properties"]["FunctionName"]["Ref"]
            permissions.setdefault(target, []).append(permission["Properties"])
    # Operator functions are invoked by the operator API (its own RestApi, in the nested ops stack).
    operator = {fn.description for _, fn in catalog.operator_routes()}
    routed = {fn.description for _, fn in catalog.routes()} | {catalog.function(catalog.AUTHORIZER).description}
    assert {functions[target] for target in permissions} == routed | operator
    # Each customer-facing function is invoked by the API that serves its routes (media links: the links API).
    serving = {fn.description: assembly.api_of(stage, route.path) for route, fn in catalog.routes()}
    serving[catalog.function(catalog.AUTHORIZER).description] = assembly.rest_api_id(stage)
    apis = set(_of_type(resources, "AWS::ApiGateway::RestApi"))
    for target, granted in permissions.items():
        assert len(granted) == 1, functions[target]  # one per function, not one (or two) per route
        (props,) = granted
        assert props["Action"] == "lambda:InvokeFunction"
        source = _joined(props["SourceArn"])
        assert source.startswith("arn:aws:execute-api:")
        named = {api for api in apis if f"{{{api}}}" in source}
        assert named == ({serving[functions[target]]} if functions[target] not in operator else set())
        assert source.endswith((f"/{STAGE_NAME}/*/*", "/authorizers/{" + _authorizer_id(resources) + "}"))
        # Each statement Lambda writes is ~350 bytes: the policy stays far below the 20 KB limit.
        assert len(json.dumps(props)) * len(granted) < LAMBDA_POLICY_LIMIT / 20
    # Every method still integrates its own function as a Lambda proxy.
    methods = [
        m
        for m in _of_type(resources, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] not in ("OPTIONS", "ANY")  # ANY: the 405 catch-alls (test_stacks)
    ]
    assert len(methods) == len(list(catalog.routes()))
    for method in methods:
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert ":lambda:path/2015-03-31/functions/" in _joined(integration["Uri"])


def _authorizer_id(resources: dict[str, dict[str, Any]]) -> str:
    (authorizer,) = _of_type(resources, "AWS::ApiGateway::Authorizer")
    return authorizer


def _custom_resource_id(assembly: Assembly, stage: str) -> str:
    (logical_id,) = _of_type(assembly.template(stage, "bootstrap")["Resources"], "Custom::AWS")
    return logical_id


def _walk(value: Any) -> list[Any]:
    """Every dict, list and scalar inside a template value, depth first."""
    found = [value]
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for child in children:
        found += _walk(child)
    return found


def _joined(value: Any) -> str:
    """A template string with references rendered as `{LogicalId}` / `{LogicalId.Attr}`."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_joined(part) for part in parts)
    if "Ref" in value:
        return "{" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "{" + ".".join(value["Fn::GetAtt"]) + "}"
    return json.dumps(value)

"""Every call in docs/permissions.md is allowed in dev and prod as AWS would decide, every grant is used, and
removing any grant (from a role or the catalog) or any key-policy statement that functions rely on denies a call."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from aws_cdk import App

from infra.config import StageConfig
from infra.stages import add_stage, stack_names
from local.recorder import SEEDER
from switchboard import catalog
from tests import ledger
from tests.infra import iam, permissions
from tests.infra.conftest import ROOT, STAGES, Assembly

ROWS = ledger.committed()
FUNCTIONS = sorted({spec.name for spec in catalog.FUNCTIONS} | {SEEDER})
# Key-policy statements no function call relies on, each with what does rely on it (the mutation test skips them).
NOT_FOR_FUNCTIONS = {
    "AdministerOnly": "key administration by the account (describe, enable, disable, tag, rotate, delete)",
    "PolicyChangesByDeploymentOnly": "CloudFormation (the CDK execution role) updates the key policy on deploy",
    "GrantsOnlyForOurResources": "DynamoDB and AWS Backup create grants for tables and backups at creation",
    "DeliverToEncryptedQueues": "EventBridge and SNS deliver to the encrypted DLQs",
    "AlarmsPublishToEncryptedTopic": "CloudWatch alarms publish to the encrypted alarm topic",
    "CloudWatchLogsOfThisAccount": "CloudWatch Logs encrypts the log groups",
    "UseThroughOurServices@BackupKey": "AWS Backup encrypts the vault's recovery points (no function uses it)",
}


def _model(assembly: Assembly, stage: str, data: dict[str, Any] | None = None) -> permissions.Model:
    return permissions.build(
        stage,
        data if data is not None else assembly.template(stage, "data"),
        # As synthesized: permissions.Resolver follows the SSM parameters to the data stack's resources itself.
        assembly.raw_template(stage, "api"),
        assembly.configs[stage],
    )


@pytest.fixture(scope="module")
def models(assembly: Assembly) -> dict[str, permissions.Model]:
    return {stage: _model(assembly, stage) for stage in STAGES}


def test_the_ledger_covers_every_function_and_names_only_catalog_resources() -> None:
    # A function the catalog grants nothing (the drift job calls only Cloudflare) makes no AWS call to record.
    silent = {
        f.name for f in catalog.FUNCTIONS if not (f.tables or f.queues or f.secrets or f.uses_data_key or f.sends_email)
    }
    assert {row[0] for row in ROWS} == set(FUNCTIONS) - silent
    assert not [row for row in ROWS if row[3].startswith("?")]
    assert ledger.DOC.read_text() == ledger.render(ROWS), ledger.REGENERATE


@pytest.mark.parametrize("stage", STAGES)
def test_every_recorded_call_is_allowed_as_aws_would_decide(models: dict[str, permissions.Model], stage: str) -> None:
    report = permissions.evaluate(models[stage], ROWS)
    assert report.evaluated > 2 * len(ROWS)  # each call, the KMS calls its service makes, and Lambda's own
    assert report.denied == []
    # A deployed stage skips only what it does not deploy: the local stage's sandbox secret (stage switches).
    local_only = {s.id for s in catalog.SECRETS} - {s.id for s in catalog.secrets_for(stage)}
    assert sorted(report.skipped) == sorted(" ".join(row) for row in ROWS if row[3] in local_only)


@pytest.mark.parametrize("stage", STAGES)
def test_every_granted_action_is_used_by_a_recorded_call(models: dict[str, permissions.Model], stage: str) -> None:
    assert permissions.evaluate(models[stage], ROWS).unused == []


def test_every_allowed_extra_has_a_reason_and_is_still_unrecorded(models: dict[str, permissions.Model]) -> None:
    # An entry whose call the ledger now records is no longer an extra: remove it from ALLOWED_EXTRAS.
    assert all(len(reason) > 20 for reason in permissions.ALLOWED_EXTRAS.values())
    model = models["dev"]
    recorded = {
        (row[0], row[3].split("/index/")[0], check.request.action)
        for row in ROWS
        if row[3] in model.deployed
        for check in permissions.checks(model, row)
        if not check.key_policy
    }
    stale = [
        extra
        for extra in permissions.ALLOWED_EXTRAS
        if any(
            fn == extra[0] and resource == extra[1] and extra[2] in ("*", action) for fn, resource, action in recorded
        )
    ]
    assert stale == []


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("stage", STAGES)
def test_removing_any_grant_of_a_role_denies_a_recorded_call(
    models: dict[str, permissions.Model], stage: str, function: str
) -> None:
    model = models[stage]
    survivors = []
    mutations = 0
    unrecorded = model.unrecorded(function)  # allowlisted: no recorded call needs them, by definition
    for statement in model.identity[function]:
        if statement.effect != "Allow" or any(arn in repr(statement.conditions) for arn in unrecorded):
            continue
        # One grant: a whole statement, or one table, index, queue or secret of a statement CDK merged from several.
        resources = [r for r in statement.resources if r not in unrecorded] if len(statement.resources) > 1 else [None]
        if statement.resources and set(statement.resources) <= unrecorded:
            continue
        for resource in resources:
            mutations += 1
            mutated = model.without(function, statement.origin, resource)
            if not permissions.evaluate(mutated, ROWS, functions=[function]).denied:
                survivors.append(f"{statement.origin} {resource or ''}")
    assert mutations > 0
    assert survivors == [], survivors


@pytest.mark.parametrize("stage", STAGES)
def test_removing_a_key_policy_statement_that_functions_use_denies_a_call(assembly: Assembly, stage: str) -> None:
    data = assembly.template(stage, "data")
    # A call denied before any mutation would make every mutation look effective.
    assert not permissions.evaluate(_model(assembly, stage, data), ROWS).denied
    survivors, mutations = [], 0
    for logical_id, resource in data["Resources"].items():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        key_name = logical_id.removeprefix("Keys")[:-8]
        for index, statement in enumerate(resource["Properties"]["KeyPolicy"]["Statement"]):
            sid = statement["Sid"]
            if sid in NOT_FOR_FUNCTIONS or f"{sid}@{key_name}" in NOT_FOR_FUNCTIONS:
                continue
            mutations += 1
            mutated = copy.deepcopy(data)
            del mutated["Resources"][logical_id]["Properties"]["KeyPolicy"]["Statement"][index]
            if not permissions.evaluate(_model(assembly, stage, mutated), ROWS).denied:
                survivors.append(f"{key_name}: {sid}")
    assert mutations >= 2  # the data key's service use and the envelope key's direct use
    assert survivors == [], survivors


def test_removing_a_grant_from_the_catalog_denies_the_call_it_served(
    assembly: Assembly, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # One catalog-level mutation, re-synthesized (the role-level ones above cover every grant, template-level).
    authorizer = catalog.function(catalog.AUTHORIZER)
    without = dataclasses.replace(authorizer, secrets={})
    monkeypatch.setattr(catalog, "FUNCTIONS", tuple(without if f is authorizer else f for f in catalog.FUNCTIONS))
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    app = App(context=context, outdir=str(tmp_path))
    add_stage(app, StageConfig.from_context("dev", context["stages"]))
    app.synth()
    data_name, api_name = stack_names("dev")
    templates = {name: json.loads((tmp_path / f"{name}.template.json").read_text()) for name in (data_name, api_name)}
    model = permissions.build("dev", templates[data_name], templates[api_name], assembly.configs["dev"])
    denied = permissions.evaluate(model, ROWS, functions=[catalog.AUTHORIZER]).denied
    assert denied
    assert all("authorizer secretsmanager GetSecretValue Peppers" in line for line in denied)


@pytest.mark.parametrize("stage", STAGES)
def test_an_iam_admin_cannot_use_or_regrant_a_key_but_a_deployment_can_change_its_policy(
    models: dict[str, permissions.Model], stage: str
) -> None:
    # What keys.py claims: an admin with kms:* in IAM can neither decrypt directly nor grant itself (or change the
    # key policy); only the CDK execution role (a deployment) may put a new key policy.
    model = models[stage]
    account, region = model.account, model.region
    admin = f"arn:aws:iam::{account}:role/Admin"
    deployer = f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}"
    everything = [iam.statement({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, "AdministratorAccess")]

    def allowed(principal: str, action: str, key: str, **context: str) -> bool:
        ctx = {
            "aws:principalarn": principal,
            "kms:calleraccount": account,
            **{k.lower(): v for k, v in context.items()},
        }
        request = iam.Request(principal, action, key, ctx)
        return iam.evaluate(request, everything, model.key_policies[key], key_policy=True).allowed

    for name, key in model.keys.items():
        for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant"):
            assert not allowed(admin, action, key), (name, action)
        assert not allowed(admin, "kms:CreateGrant", key, **{"kms:GrantIsForAWSResource": "false"}), name
        assert not allowed(admin, "kms:PutKeyPolicy", key), name
        assert allowed(deployer, "kms:PutKeyPolicy", key), name
        assert allowed(admin, "kms:DescribeKey", key), name  # administration stays possible
    # Through DynamoDB, for a table, the same admin may use the data key: that is reading the table, not the key.
    dynamodb = {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}
    assert allowed(admin, "kms:Decrypt", model.keys["Data"], **dynamodb)


def test_grants_refuse_to_change_the_audit_trail_or_to_name_a_missing_index() -> None:
    from aws_cdk import Stack  # noqa: PLC0415
    from aws_cdk import aws_dynamodb as dynamodb  # noqa: PLC0415
    from aws_cdk import aws_iam as cdk_iam  # noqa: PLC0415
    from aws_cdk import aws_kms as kms  # noqa: PLC0415

    from infra.constructs import grants  # noqa: PLC0415
    from switchboard.catalog import Op, ops  # noqa: PLC0415

    stack = Stack(App(), "Grants")
    role = cdk_iam.Role(stack, "Role", assumed_by=cdk_iam.ServicePrincipal("lambda.amazonaws.com"))
    key = kms.Key(stack, "Key")
    table = dynamodb.Table(stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    with pytest.raises(ValueError, match="append-only"):
        grants.grant_table(role, table=table, spec=catalog.table("Audit"), key=key, ops=ops(Op.PUT, Op.UPDATE))
    with pytest.raises(ValueError, match="no index"):
        grants.grant_table(role, table=table, spec=catalog.table("Keyring"), key=key, ops=ops(Op.QUERY_GSI1))
    assert grants.table_actions(ops(Op.GET, Op.QUERY_GSI2)) == (["dynamodb:GetItem"], ["gsi2"])

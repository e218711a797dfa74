"""infra/ops.py: the refusals of `make diff|deploy|bootstrap|destroy`, the destroy clean-up and the DNS records."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra import ops
from infra.config import ROOT, StageConfig, bootstrap_stack_name, stack_names

REGION = "eu-west-1"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def _real(config: StageConfig, tmp_path: Path) -> StageConfig:
    """The stage with every example value replaced, as an operator would before deploying."""
    pem = tmp_path / "aop-ca.pem"
    pem.write_text(PEM)
    return dataclasses.replace(
        config,
        account="123456789013",
        domain_name=f"api.{config.name}.switchboard.io",
        alarm_email="oncall@switchboard.io",
        security_contact="mailto:security@switchboard.io",
        security_policy_url="https://switchboard.io/security/policy",
        mail_from="Switchboard <no-reply@switchboard.io>",
        cloudflare_zone="switchboard.io",
        truststore_pem=str(pem),
    )


def _make(target: str, stage: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # npx is never reached: a refusal comes first
    return subprocess.run(
        ["make", "-s", target, f"STAGE={stage}"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("target", ["deploy", "diff", "bootstrap"])
def test_make_refuses_placeholder_accounts_naming_the_key(target: str) -> None:
    result = _make(target, "dev")
    assert result.returncode != 0
    assert "stages.dev.account" in result.stderr
    assert f"refusing to {target} stage dev" in result.stderr
    assert "aws-cdk" not in result.stdout + result.stderr  # the CDK CLI never ran


def test_make_destroy_refuses_a_protected_stage() -> None:
    result = _make("destroy", "prod")
    assert result.returncode != 0
    assert "refusing to destroy stage prod" in result.stderr
    assert "stages.prod.deletion_protection" in result.stderr
    assert "stages.prod.lock_backups" in result.stderr


def test_preflight_passes_a_real_stage_and_needs_its_pem(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    assert config.placeholders() == []
    ops.preflight(config, "deploy")
    Path(config.truststore_pem).write_text("not a certificate")
    with pytest.raises(ops.Refused) as refused:
        ops.preflight(config, "deploy")
    assert "TRUSTSTORE_PEM" in refused.value.message
    for key in ("account", "domain_name", "mail_from"):
        example = dataclasses.replace(config, **{key: StageConfig.from_cdk_json("dev").__dict__[key]})
        with pytest.raises(ops.Refused, match=re.escape(f"stages.dev.{key}")):
            ops.preflight(example, "deploy")


def test_install_pem_refuses_a_private_key(tmp_path: Path) -> None:
    config = dataclasses.replace(_real(StageConfig.from_cdk_json("dev"), tmp_path), truststore_pem=str(tmp_path / "x"))
    leaked = tmp_path / "bundle.pem"
    leaked.write_text(PEM + "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ops.Refused, match="private key"):
        ops.install_pem(config, str(leaked))
    good = tmp_path / "ca.pem"
    good.write_text(PEM)
    ops.install_pem(config, str(good))
    assert (tmp_path / "x").read_text() == PEM


def test_next_steps_give_the_stage_values(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    text = ops.next_steps(config)
    assert "aws backup update-region-settings --region eu-west-1" in text
    assert "make records STAGE=dev" in text
    assert config.domain_name in text
    assert "Switchboard-dev-Api" in text


def test_destroy_empties_the_truststore_bucket_then_destroys_every_stack(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    calls: list[list[str]] = []
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        template = {"Resources": {"Truststore": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(StackName=bootstrap_stack_name("dev"), TemplateBody=json.dumps(template))
        (bucket,) = ops.stack_resources(cloudformation, bootstrap_stack_name("dev"), "AWS::S3::Bucket")
        s3 = session.client("s3")
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="aop-ca.pem", Body=PEM)
        s3.put_object(Bucket=bucket, Key="aop-ca.pem", Body=PEM + "\n")
        s3.delete_object(Bucket=bucket, Key="aop-ca.pem")  # a delete marker blocks the bucket's deletion too

        ops.destroy(config, assume_yes=True, session=session, runner=lambda args, **_: calls.append(args))

        listing = s3.list_object_versions(Bucket=bucket)
        assert "Versions" not in listing
        assert "DeleteMarkers" not in listing
    assert calls == [[*ops.CDK, "destroy", "--all", "--force", "-c", "stage=dev"]]


def test_destroy_of_a_protected_stage_touches_nothing(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("prod"), tmp_path)
    with pytest.raises(ops.Refused, match=re.escape("stages.prod.retain_data")):
        ops.destroy(config, assume_yes=True, session=object(), runner=pytest.fail)


def test_empty_vault_deletes_every_recovery_point_and_waits_until_they_are_gone() -> None:
    backup = boto3.client("backup", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    arns = [f"arn:aws:backup:{REGION}:123456789013:recovery-point:{n}" for n in ("a", "b")]
    points = {"RecoveryPoints": [{"RecoveryPointArn": arn} for arn in arns]}
    vault = {"BackupVaultName": "v"}
    slept: list[float] = []
    with Stubber(backup) as stub:
        stub.add_response("list_recovery_points_by_backup_vault", points, vault)
        for arn in arns:
            stub.add_response("delete_recovery_point", {}, {**vault, "RecoveryPointArn": arn})
        stub.add_response(
            "list_recovery_points_by_backup_vault", {"RecoveryPoints": points["RecoveryPoints"][1:]}, vault
        )
        stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": []}, vault)
        assert ops.empty_vault(backup, "v", sleep=slept.append) == 2
        stub.assert_no_pending_responses()
    assert slept == [10]


def test_records_print_the_acm_validation_cname(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        assert "no ACM certificate" in ops.records(config, session)[0]
        acm: Any = session.client("acm")
        arn = acm.request_certificate(DomainName=config.domain_name, ValidationMethod="DNS")["CertificateArn"]
        acm.request_certificate(DomainName="other.switchboard.io", ValidationMethod="DNS")
        (option,) = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
        record = option["ResourceRecord"]
        lines = ops.records(config, session)
    assert lines[0].startswith(f"{record['Name']} CNAME {record['Value']}")
    assert not any("other.switchboard.io" in line for line in lines)


def test_destroy_empties_the_buckets_of_the_api_stacks_nested_stacks(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    _, api_stack = stack_names("dev")
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket="templates", CreateBucketConfiguration={"LocationConstraint": REGION})
        nested = {"Resources": {"Artifacts": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
        s3.put_object(Bucket="templates", Key="monitoring.json", Body=json.dumps(nested))
        template = {
            "Resources": {
                "StatusPage": {"Type": "AWS::S3::Bucket", "Properties": {}},
                "Monitoring": {
                    "Type": "AWS::CloudFormation::Stack",
                    "Properties": {"TemplateURL": f"https://templates.s3.{REGION}.amazonaws.com/monitoring.json"},
                },
            }
        }
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(StackName=api_stack, TemplateBody=json.dumps(template))
        buckets = ops.stack_resources(cloudformation, api_stack, "AWS::S3::Bucket")
        assert len(buckets) == 2  # the parent's and the nested stack's
        for bucket in buckets:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            s3.put_object(Bucket=bucket, Key="page.json", Body="{}")

        ops.destroy(config, assume_yes=True, session=session, runner=lambda args, **_: None)

        for bucket in buckets:
            assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_destroy_empties_the_files_buckets_of_the_data_stack_but_not_a_locked_one(tmp_path: Path) -> None:
    config = _real(StageConfig.from_cdk_json("dev"), tmp_path)
    data_stack, _ = stack_names("dev")
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        template = {"Resources": {"Files": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(StackName=data_stack, TemplateBody=json.dumps(template))
        (files,) = ops.stack_resources(cloudformation, data_stack, "AWS::S3::Bucket")
        s3.put_bucket_versioning(Bucket=files, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=files, Key="files/acct_1/fil_1", Body=b"sealed")
        s3.delete_object(Bucket=files, Key="files/acct_1/fil_1")
        s3.create_bucket(
            Bucket="anchors", CreateBucketConfiguration={"LocationConstraint": REGION}, ObjectLockEnabledForBucket=True
        )

        assert ops.object_locked(s3, "anchors") is True
        assert ops.object_locked(s3, files) is False
        ops.destroy(config, assume_yes=True, session=session, runner=lambda args, **_: None)

        listing = s3.list_object_versions(Bucket=files)
        assert "Versions" not in listing
        assert "DeleteMarkers" not in listing

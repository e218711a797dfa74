"""The status page bucket and status_page_job's grants: encrypted, TLS only, no ACLs, read by Cloudflare alone, and
written by the job on exactly its three objects."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.constructs.edge import cloudflare_ranges
from infra.constructs.status_page import PAGE_OBJECTS
from switchboard import catalog
from tests.infra.conftest import STAGES, Assembly

JOB_PREFIX = "".join(p.capitalize() for p in catalog.STATUS_PAGE_JOB.split("_"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bucket(assembly: Assembly, stage: str) -> tuple[str, dict[str, Any]]:
    buckets = assembly.template(stage, "api")["Resources"]
    (found,) = [(k, v) for k, v in buckets.items() if v["Type"] == "AWS::S3::Bucket" and k.startswith("StatusPage")]
    return found


def _statements_of_role(assembly: Assembly, stage: str, prefix: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in assembly.resources(stage, "AWS::IAM::Policy").values():
        if any(role["Ref"].startswith(f"{prefix}Role") for role in policy["Properties"]["Roles"]):
            statements += _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _objects(bucket_id: str) -> list[dict[str, Any]]:
    return _sorted([{"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{key}"]]} for key in PAGE_OBJECTS])


def _sorted(resources: Any) -> list[Any]:
    return sorted(_as_list(resources), key=json.dumps)


@pytest.mark.parametrize("stage", STAGES)
def test_bucket_is_encrypted_without_acls_or_public_access(assembly: Assembly, stage: str) -> None:
    _, bucket = _bucket(assembly, stage)
    props = bucket["Properties"]
    # S3-managed keys: Cloudflare reads anonymously, which SSE-KMS objects never allow (docs/status.md).
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in props
    assert "WebsiteConfiguration" not in props
    # Prod keeps it; dev's goes with its stack (`make destroy` empties it first).
    assert bucket["DeletionPolicy"] == ("Retain" if assembly.configs[stage].retain_data else "Delete")


@pytest.mark.parametrize("stage", STAGES)
def test_only_cloudflare_reads_the_page_and_only_over_tls(assembly: Assembly, stage: str) -> None:
    bucket_id, _ = _bucket(assembly, stage)
    resources = assembly.template(stage, "api")["Resources"]
    policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    (policy,) = [p for p in policies if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    statements = _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"AWS": "*"}
    assert allow["Action"] == "s3:GetObject"  # no List, no Put, no Delete
    assert _sorted(allow["Resource"]) == _objects(bucket_id)
    assert allow["Condition"] == {"IpAddress": {"aws:SourceIp": cloudflare_ranges()}}
    assert len(cloudflare_ranges()) > 10


@pytest.mark.parametrize("stage", STAGES)
def test_the_job_writes_exactly_the_page_objects_and_reads_only_its_signals(assembly: Assembly, stage: str) -> None:
    bucket_id, _ = _bucket(assembly, stage)
    statements = [s for s in _statements_of_role(assembly, stage, JOB_PREFIX) if s["Effect"] == "Allow"]
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
    assert [(s["Action"], _sorted(s["Resource"])) for s in s3] == [("s3:PutObject", _objects(bucket_id))]
    queues = [s for s in statements if any(a.startswith("sqs:") for a in _as_list(s["Action"]))]
    [sqs] = [s for s in queues if s["Action"] == "sqs:GetQueueAttributes"]
    # Beside it only the on-failure destination: its own schedule's DLQ (every job has one).
    for other in (s for s in queues if s is not sqs):
        assert set(_as_list(other["Action"])) <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
        assert f"{JOB_PREFIX}ScheduleDlq" in json.dumps(other["Resource"])
    named = set(re.findall(r'"([A-Za-z]+?)(Dlq|Queue)[0-9A-F]{8}"', json.dumps(sqs["Resource"])))
    assert named == {(q.id, "Dlq") for q in catalog.QUEUES}  # every DLQ, and never a queue itself
    [metrics] = [s for s in statements if any(a.startswith("cloudwatch:") for a in _as_list(s["Action"]))]
    # CDK merges it with the tracing grant: the only actions on '*' are these (docs/cdk-nag.md's acknowledgement).
    assert metrics["Resource"] == "*"
    assert set(_as_list(metrics["Action"])) == {
        "cloudwatch:GetMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert [s for s in statements if s["Resource"] == "*"] == [metrics]
    dynamodb = {a for s in statements for a in _as_list(s["Action"]) if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem"}
    # No other role may touch the bucket.
    for logical_id, policy in assembly.resources(stage, "AWS::IAM::Policy").items():
        if not any(role["Ref"].startswith(f"{JOB_PREFIX}Role") for role in policy["Properties"]["Roles"]):
            assert bucket_id not in json.dumps(policy["Properties"]["PolicyDocument"]), logical_id


@pytest.mark.parametrize("stage", STAGES)
def test_the_job_runs_every_minute_with_its_configuration(assembly: Assembly, stage: str) -> None:
    bucket_id, _ = _bucket(assembly, stage)
    rules = assembly.resources(stage, "AWS::Events::Rule").values()
    assert any(r["Properties"].get("ScheduleExpression") == "rate(1 minute)" for r in rules)
    assert catalog.STATUS_PAGE.expression == "rate(1 minute)"
    functions = assembly.resources(stage, "AWS::Lambda::Function")
    (job,) = [f for k, f in functions.items() if k.startswith(f"{JOB_PREFIX}Function")]
    config = json.dumps(job["Properties"]["Environment"]["Variables"][catalog.STATUS_PAGE_CONFIG_ENV])
    assert bucket_id in config
    domain = assembly.configs[stage].domain_name
    assert f"https://status.{domain.partition('.')[2]}/" in config
    for spec in catalog.QUEUES:
        assert f'\\"{spec.id}\\"' in config, spec.id
    for name, function in functions.items():
        if not name.startswith(f"{JOB_PREFIX}Function"):
            assert catalog.STATUS_PAGE_CONFIG_ENV not in function["Properties"].get("Environment", {}).get(
                "Variables", {}
            ), name

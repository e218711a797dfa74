"""The Files bucket as deployed: the data CMK (bucket key), versioned, private, TLS only, logged, its lifecycle; the
API takes file bodies as binary and only files_api and the purge job touch the bucket, each on its own prefixes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs import edge
from switchboard import catalog, files
from tests.infra.conftest import STAGES, Assembly

SPEC = catalog.bucket("Files")


def _bucket(assembly: Assembly, stage: str, prefix: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, bucket),) = (
        (i, r) for i, r in assembly.resources(stage, "AWS::S3::Bucket").items() if i.startswith(prefix)
    )
    return logical_id, bucket


def _policy_of(assembly: Assembly, stage: str, bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = (
        p
        for p in assembly.resources(stage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.mark.parametrize("stage", STAGES)
def test_files_are_encrypted_with_the_data_cmk_versioned_private_and_logged(assembly: Assembly, stage: str) -> None:
    bucket_id, bucket = _bucket(assembly, stage, "FilesBucket")
    props = bucket["Properties"]
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert key["Fn::GetAtt"][0].startswith("KeysDataKey")
    assert encryption["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    logs_id, logs = _bucket(assembly, stage, "FilesAccessLogs")
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    assert logs["Properties"]["PublicAccessBlockConfiguration"] == props["PublicAccessBlockConfiguration"]
    # Only S3's log delivery writes to the log bucket, and only for this bucket.
    (delivery,) = [s for s in _policy_of(assembly, stage, logs_id) if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    retained = "Retain" if assembly.configs[stage].retain_data else "Delete"
    assert bucket["DeletionPolicy"] == logs["DeletionPolicy"] == retained


@pytest.mark.parametrize("stage", STAGES)
def test_the_bucket_refuses_every_request_without_tls(assembly: Assembly, stage: str) -> None:
    bucket_id, _ = _bucket(assembly, stage, "FilesBucket")
    (deny,) = _policy_of(assembly, stage, bucket_id)
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:*", {"AWS": "*"})
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert json.dumps(deny["Resource"]).count(bucket_id) == 2  # the bucket and its objects


@pytest.mark.parametrize("stage", STAGES)
def test_lifecycle_drops_old_versions_unfinished_and_staged_uploads_after_a_day(assembly: Assembly, stage: str) -> None:
    _, bucket = _bucket(assembly, stage, "FilesBucket")
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    versions = rules["OlderVersionsAndUnfinishedUploads"]
    assert versions["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert versions["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in versions and "ExpirationInDays" not in versions  # current objects stay
    staged = rules["StagedUploads"]
    assert (staged["Prefix"], staged["ExpirationInDays"]) == (f"{SPEC.staging_prefix}/", 1)
    assert {r["Status"] for r in rules.values()} == {"Enabled"}


@pytest.mark.parametrize("stage", STAGES)
def test_files_are_not_in_the_backup_plan(assembly: Assembly, stage: str) -> None:
    bucket_id, _ = _bucket(assembly, stage, "FilesBucket")
    for selection in assembly.resources(stage, "AWS::Backup::BackupSelection").values():
        assert bucket_id not in json.dumps(selection)


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_file_and_recording_functions_touch_the_bucket_each_on_its_prefixes(
    assembly: Assembly, stage: str
) -> None:
    bucket_id, _ = _bucket(assembly, stage, "FilesBucket")
    touching: dict[str, set[tuple[str, str]]] = {}
    for logical_id, policy in assembly.resources(stage, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                if bucket_id not in json.dumps(resource):
                    continue
                where = resource["Fn::Join"][1][-1] if "Fn::Join" in resource else "bucket"
                for action in actions:
                    touching.setdefault(logical_id.split("Role")[0], set()).add((action, where))
    assert set(touching) == {
        "FilesApi",
        "PurgeJob",
        "MediaWorker",
        "RecordingsApi",
        "RecipientsApi",
        "ErasureJob",
        "MediaLinks",
    }
    objects = {("s3:GetObject", "/files/*"), ("s3:PutObject", "/files/*"), ("s3:DeleteObjectVersion", "/files/*")}
    staged = {(a, p.replace("files", "incoming")) for a, p in objects}
    assert touching["FilesApi"] == objects | staged | {("s3:ListBucketVersions", "bucket")}
    assert touching["PurgeJob"] == {
        ("s3:DeleteObjectVersion", "/files/*"),
        ("s3:DeleteObjectVersion", "/incoming/*"),
        ("s3:ListBucketVersions", "bucket"),
    }
    # Recordings (docs/recordings.md) are never staged: their functions touch the stored prefix only.
    versions = {("s3:DeleteObjectVersion", "/files/*"), ("s3:ListBucketVersions", "bucket")}
    assert touching["MediaWorker"] == {("s3:PutObject", "/files/*"), *versions}
    assert touching["RecordingsApi"] == {("s3:GetObject", "/files/*")}
    # Media links (docs/files.md "Links") read a message's file and nothing else.
    assert touching["MediaLinks"] == {("s3:GetObject", "/files/*")}
    assert touching["RecipientsApi"] == touching["ErasureJob"] == versions


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_takes_file_types_as_binary_and_json_as_text(assembly: Assembly, stage: str) -> None:
    ((_, rest_api),) = (
        (i, r) for i, r in assembly.resources(stage, "AWS::ApiGateway::RestApi").items() if i.startswith("Rest")
    )
    binary = rest_api["Properties"]["BinaryMediaTypes"]
    assert binary == list(files.API_BINARY_TYPES)
    assert set(files.MEDIA_TYPES) | {files.OCTET_STREAM} <= set(binary)
    assert not any(t.startswith(("application/json", "*", "text/")) or t.endswith("+json") for t in binary)


@pytest.mark.parametrize("stage", STAGES)
def test_uploads_are_left_out_of_the_json_body_rules_only(assembly: Assembly, stage: str) -> None:
    ((_, acl),) = assembly.resources(stage, "AWS::WAFv2::WebACL").items()
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    uploads = [f"{r.method} {r.path}" for r in edge.upload_routes()]
    assert uploads == ["POST /v1/files"]
    size = rules["BodyLargerThanApiLimit"]["Statement"]["AndStatement"]["Statements"]
    assert size[0]["SizeConstraintStatement"]["Size"] == edge.MAX_BODY_BYTES
    assert "/v1/files" in json.dumps(size[1]["NotStatement"])
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["ScopeDownStatement"] == size[1]
    assert (
        "ScopeDownStatement"
        not in rules["AWSManagedRulesKnownBadInputsRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    )

"""The Files bucket (issue 14): customer files, each object sealed with its account's data key before S3 sees it.

Private, versioned, SSE-KMS with the data CMK (bucket key on), TLS only, no ACLs, server access logs to a bucket of
their own. Noncurrent versions and incomplete multipart uploads go after a day, and so do staged uploads that were
never completed (`incoming/`). Not in AWS Backup: an object is noise without its account's key-encryption key,
which crypto-shredding destroys, so a backup copy could only ever hold noise (docs/files.md).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from switchboard import catalog

STAGED_DAYS = 1  # an upload not completed within a day is gone, with its item (its TTL)
NONCURRENT_DAYS = 1  # an overwritten or deleted object's older versions


class FilesBucket(Construct):
    """`bucket`: the catalog bucket `spec`; `access_logs`: where S3 writes its server access logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: catalog.Bucket,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # S3 delivers server access logs only to a bucket with S3-managed encryption; they hold request metadata
        # (keys are account and file ids), never an object's bytes.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireLogs", expiration=Duration.days(log_retention_days))],
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.id.lower()}/",
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="OlderVersionsAndUnfinishedUploads",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(
                    id="StagedUploads",
                    prefix=f"{spec.staging_prefix}/",
                    expiration=Duration.days(STAGED_DAYS),
                ),
            ],
        )

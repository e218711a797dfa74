"""The audit anchors bucket (R55): S3 Object Lock in compliance mode, where each account's chain heads and archive
are written once and kept for the audit retention, beyond the reach of every role (the writers' included)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

# What nobody may do to an anchor or an archive object, whatever their IAM policies say (Object Lock in compliance
# mode already refuses to delete or shorten a locked version, and a lifecycle rule cannot expire one early; this
# also refuses delete markers, which would hide the newest anchor from a listing).
DENIED_TO_EVERYONE = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
)


class AuditAnchors(Construct):
    """Versioned, KMS-encrypted, TLS-only private bucket with Object Lock (compliance, `retention_days` by default).

    Objects expire by lifecycle one day after their retention ends (the S3 service, not a role, deletes them), so
    the archive ages out with the audit retention as docs/account-lifecycle.md says.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(retention_days)),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Locked objects cannot be deleted anyway: a stack deletion leaves the bucket, never fails on it.
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AgeOutAfterRetention",
                    expiration=Duration.days(retention_days + 1),
                    noncurrent_version_expiration=Duration.days(1),
                    expired_object_delete_marker=False,
                ),
            ],
        )
        objects = self.bucket.arn_for_objects("*")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="WriteOnce",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                # S3 checks If-None-Match: * at write time: a PutObject without it could add a version to a key.
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="NeverChangedOrDeleted",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(DENIED_TO_EVERYONE),
                resources=[self.bucket.bucket_arn, objects],
            )
        )

"""The stage's synthetic canary (CloudWatch Synthetics, Python) on /v1/health and, where configured, a send."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_synthetics as synthetics
from constructs import Construct

from infra.constructs import grants
from infra.constructs.alarms import LT, alarm
from infra.paths import ROOT
from switchboard.catalog import Access

CANARY_DIR = ROOT / "infra" / "canary"
RUNTIME = synthetics.Runtime.SYNTHETICS_PYTHON_SELENIUM_7_0
HANDLER = "health_canary.handler"
EVERY = Duration.minutes(5)
ARTIFACT_DAYS = 14


class Canary(Construct):
    """`canary` runs every 5 minutes from outside (through Cloudflare, as customers come); `alarm` when a run fails
    twice in a row. With `send`, its secret (`secret`: {"api_key", "to"}, set by the operator) drives a real send."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        base_url: str,
        send: bool,
        key: kms.IKey,
        action: actions.SnsAction,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Run artifacts (logs of each step): no customer data, so S3-managed keys; kept two weeks.
        self.artifacts = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ARTIFACT_DAYS))],
            removal_policy=removal_policy,
        )
        self.secret: secretsmanager.Secret | None = None
        environment = {"BASE_URL": base_url}
        if send:
            self.secret = secretsmanager.Secret(
                self,
                "SendSecret",
                description=f"Switchboard {stage} canary: api_key of the canary account and its opted-in number `to`",
                encryption_key=key,
                secret_string_value=SecretValue.unsafe_plain_text("{}"),  # the operator sets it (runbook)
                removal_policy=removal_policy,
            )
            environment["SEND_SECRET_ARN"] = self.secret.secret_arn
        self.canary = synthetics.Canary(
            self,
            "Canary",
            canary_name=f"switchboard-{stage}-api"[:21],
            runtime=RUNTIME,
            test=synthetics.Test.custom(code=synthetics.Code.from_asset(str(CANARY_DIR)), handler=HANDLER),
            schedule=synthetics.Schedule.rate(EVERY),
            environment_variables=environment,
            artifacts_bucket_location=synthetics.ArtifactsBucketLocation(bucket=self.artifacts),
            timeout=Duration.seconds(60),
            success_retention_period=Duration.days(ARTIFACT_DAYS),
            failure_retention_period=Duration.days(ARTIFACT_DAYS),
        )
        if self.secret is not None and self.canary.role is not None:
            grants.grant_secret_read(self.canary.role, secret=self.secret, key=key, access=Access.READ)
        self.alarm = alarm(
            self,
            "Failing",
            metric=self.canary.metric_success_percent(period=EVERY, statistic="Minimum"),
            threshold=100,
            why="The synthetic canary failed twice in a row: customers cannot reach the API (or send, in dev).",
            family="canary",
            action=action,
            periods=2,
            comparison=LT,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

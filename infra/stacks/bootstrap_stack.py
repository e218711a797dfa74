"""What a stage's first deploy needs before its API exists: the mTLS truststore bucket and its object."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.config import TRUSTSTORE_KEY, StageConfig

# Synthesized when the stage's PEM file is absent (a fresh clone): `make bootstrap`, `diff` and `deploy` refuse to
# run without the real file, so this text never reaches a deployed truststore.
MISSING_PEM = "missing: put the stage's Authenticated Origin Pulls CA certificate at {path}"


def truststore_parameters(stage: str) -> tuple[str, str]:
    """The SSM parameter names (bucket, object version) through which the API stack reads the truststore."""
    return f"/switchboard/{stage}/truststore/bucket", f"/switchboard/{stage}/truststore/version"


def truststore_pem(config: StageConfig) -> str:
    """The stage's PEM bundle as committed under certs/, or the MISSING_PEM text."""
    path = config.truststore_pem_path
    return path.read_text() if path.is_file() else MISSING_PEM.format(path=path)


class BootstrapStack(Stack):
    """Versioned, encrypted, TLS-only private bucket with the truststore object; names and version go to SSM.

    SSM parameters rather than CloudFormation exports: the API stack resolves them at deploy time, so a new
    truststore version never has to be pulled out from under an export that is in use.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.bucket = s3.Bucket(
            self,
            "Truststore",
            versioned=True,  # API Gateway pins the object version; older versions stay for a rollback
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
        )
        put = cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters={
                "Bucket": self.bucket.bucket_name,
                "Key": TRUSTSTORE_KEY,
                "Body": truststore_pem(config),
                "ContentType": "application/x-pem-file",
            },
            # A new PEM is a new version: CloudFormation replaces the resource and the version parameter follows.
            physical_resource_id=cr.PhysicalResourceId.from_response("VersionId"),
        )
        self.truststore_object = cr.AwsCustomResource(
            self,
            "TruststoreObject",
            on_create=put,
            on_update=put,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(TRUSTSTORE_KEY)])]
            ),
            install_latest_aws_sdk=False,
            # Owned here so that `make destroy` leaves no log group behind (Lambda would create one forever).
            log_group=logs.LogGroup(
                self, "TruststoreWriterLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal
            ),
        )
        self.truststore_version = self.truststore_object.get_response_field("VersionId")
        bucket_parameter, version_parameter = truststore_parameters(config.name)
        ssm.StringParameter(
            self,
            "TruststoreBucketParameter",
            parameter_name=bucket_parameter,
            string_value=self.bucket.bucket_name,
            description="Bucket of the API custom domain's mTLS truststore",
        )
        ssm.StringParameter(
            self,
            "TruststoreVersionParameter",
            parameter_name=version_parameter,
            string_value=self.truststore_version,
            description="S3 object version of the API custom domain's mTLS truststore",
        )
        CfnOutput(self, "TruststoreUri", value=f"s3://{self.bucket.bucket_name}/{TRUSTSTORE_KEY}")
        CfnOutput(self, "TruststoreVersion", value=self.truststore_version)

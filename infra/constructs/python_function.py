"""The house Lambda: arm64, latest Python, active tracing, JSON logs to its own KMS log group, one role each;
optionally published behind the alias `live` that callers invoke and CodeDeploy shifts (docs/alarms.md#deploys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.log_group import encrypted_log_group
from infra.environment import METRICS_NAMESPACE

# The newest Python runtime aws-cdk-lib offers and Lambda supports (AwsSolutions-L1 wants the latest);
# infra/build_layers.py builds the dependency layer for the same version.
LIVE_ALIAS = "live"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


class PythonFunction(Construct):
    """A function with its own role (`role`) and log group (`log_group`); grants are added by the caller.

    `live`: what callers invoke: the alias `live` of the newest version when `alias` is set (API Gateway, event
    sources; CodeDeploy moves it), else the function itself (schedules invoke $LATEST).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        service: str,
        description: str,
        stage: str,
        logs_key: kms.IKey,
        log_retention_days: int,
        memory_mb: int,
        timeout: Duration,
        layers: Sequence[lambda_.ILayerVersion] = (),
        environment: Mapping[str, str] | None = None,
        alias: bool = False,
        reserved_concurrency: int | None = None,
        provisioned_concurrency: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = encrypted_log_group(self, "Logs", key=logs_key, retention_days=log_retention_days)
        # A role per function: its grants are exactly what its catalog entry asks for (no shared roles).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Switchboard {stage} {service}",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            handler=handler,
            role=self.role,
            layers=list(layers),
            memory_size=memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # What every function needs, also the seeder; catalog functions pass infra.environment's full set.
            environment={
                "STAGE": stage,
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": "INFO",
                **(environment or {}),
            },
            reserved_concurrent_executions=reserved_concurrency,
        )
        self.alias: lambda_.Alias | None = None
        self.live: lambda_.IFunction = self.function
        if alias:
            self.alias = lambda_.Alias(
                self,
                "Live",
                alias_name=LIVE_ALIAS,
                version=self.function.current_version,
                provisioned_concurrent_executions=provisioned_concurrency or None,
            )
            self.live = self.alias
        elif provisioned_concurrency:
            raise ValueError(f"{service}: provisioned concurrency needs the alias")

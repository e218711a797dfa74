"""The catalog secrets (our CMK) and the seeder that fills generated keys without any value in the template."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs import grants
from infra.constructs.python_function import PythonFunction
from switchboard import catalog

SEEDER_DIR = Path(__file__).resolve().parent.parent / "seeder"


class Secrets(Construct):
    """One Secrets Manager secret per catalog secret, by catalog id; generated keys are seeded on deploy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secrets: tuple[catalog.Secret, ...],
        key: kms.IKey,
        logs_key: kms.IKey,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        stage: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_id: dict[str, secretsmanager.Secret] = {}
        for spec in secrets:
            # An empty JSON object to start with: the seeder adds generated keys, a runbook adds carrier keys.
            self.by_id[spec.id] = secretsmanager.Secret(
                self,
                spec.id,
                description=f"Switchboard {stage}: {spec.purpose}",
                encryption_key=key,
                secret_string_value=SecretValue.unsafe_plain_text("{}"),
                removal_policy=removal_policy,
            )
        seeded = [spec for spec in secrets if spec.generated_keys]
        if not seeded:
            return
        self.seeder = PythonFunction(
            self,
            "Seeder",
            description="Fills missing generated secret keys on deploy (never overwrites, never returns values)",
            code=lambda_.Code.from_asset(str(SEEDER_DIR), exclude=["__pycache__"]),
            handler="index.lambda_handler",
            service="secret-seeder",
            stage=stage,
            logs_key=logs_key,
            log_retention_days=log_retention_days,
            memory_mb=256,
            timeout=Duration.seconds(30),
        )
        for spec in seeded:
            secret = self.by_id[spec.id]
            # Not secret.grant_read/grant_write: their KMS half would go to the key policy, which keys.py replaces.
            grants.grant_secret_seed(self.seeder.role, secret=secret, key=key)
            CustomResource(
                self,
                f"{spec.id}Seed",
                service_token=self.seeder.function.function_arn,
                resource_type="Custom::SecretSeed",
                properties={"SecretId": secret.secret_arn, "Keys": list(spec.generated_keys)},
            )

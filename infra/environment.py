"""The one definition of a function's environment: CDK sets it on the Lambda, the local stack scopes it per call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from infra.config import StageConfig
from switchboard import catalog

METRICS_NAMESPACE = "Switchboard"


class ResourceNames(Protocol):
    """How a stack names the catalog's resources: CDK tokens deployed, physical names and URLs locally."""

    def table(self, table_id: str) -> str:
        """The physical name of a table."""
        ...

    def queue(self, queue_id: str) -> str:
        """The URL of a queue."""
        ...

    def secret(self, secret_id: str) -> str:
        """The ARN (deployed) or name (local) of a secret."""
        ...

    def data_key(self) -> str:
        """The id or ARN of the KMS key that wraps the per-account data keys."""
        ...

    def audit_mac_key(self) -> str:
        """The id or ARN of the audit trail's KMS HMAC key."""
        ...

    def anchor_bucket(self) -> str:
        """The name of the audit anchors bucket (S3 Object Lock)."""
        ...

    def receipt_key(self) -> str:
        """The id or ARN of the deletion receipts' KMS signing key (R61)."""
        ...

    def catalog_bucket(self, bucket_id: str) -> str:
        """The name of a catalog bucket."""
        ...


@dataclass(frozen=True)
class StageValues:
    """The stage-wide values every function reads (from StageConfig deployed; the local stack has its own)."""

    stage: str
    public_base_url: str
    security_contact: str
    security_policy_url: str
    mail_from: str
    audit_retention_days: int = 400
    mail_configuration_set: str = ""  # deployed: the stage's SES configuration set (reputation metrics)

    @classmethod
    def of(cls, config: StageConfig) -> StageValues:
        """The values of a deployable stage."""
        return cls(
            stage=config.name,
            public_base_url=f"https://{config.domain_name}",
            security_contact=config.security_contact,
            security_policy_url=config.security_policy_url,
            mail_from=config.mail_from,
            audit_retention_days=config.audit_log_retention_days,
            mail_configuration_set=mail_configuration_set_name(config.name),
        )


def mail_configuration_set_name(stage: str) -> str:
    """The SES configuration set every e-mail of a deployed stage is sent with (infra/stacks/api_stack.py)."""
    return f"switchboard-{stage}"


def function_environment(spec: catalog.Function, names: ResourceNames, values: StageValues) -> dict[str, str]:
    """Every variable the function gets: its stage, and each variable its entry promises (Function.variables: the
    stage's published values and the names of exactly the resources it is granted), resolved for this stack.

    `spec` should come from catalog.for_stage(values.stage), which drops what the stage does not deploy.
    """
    environment = {
        "STAGE": values.stage,
        "POWERTOOLS_SERVICE_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "LOG_LEVEL": "INFO",
    }
    resolve: dict[catalog.Carries, Callable[[str], str]] = {
        catalog.Carries.TABLE: names.table,
        catalog.Carries.QUEUE: names.queue,
        catalog.Carries.SECRET: names.secret,
        catalog.Carries.DATA_KEY: lambda _: names.data_key(),
        catalog.Carries.AUDIT_MAC_KEY: lambda _: names.audit_mac_key(),
        catalog.Carries.ANCHOR_BUCKET: lambda _: names.anchor_bucket(),
        catalog.Carries.RECEIPT_KEY: lambda _: names.receipt_key(),
        catalog.Carries.BUCKET: names.catalog_bucket,
        catalog.Carries.MAIL_FROM: lambda _: values.mail_from,
        catalog.Carries.AUDIT_RETENTION_DAYS: lambda _: str(values.audit_retention_days),
        catalog.Carries.PUBLIC_BASE_URL: lambda _: values.public_base_url,
        catalog.Carries.SECURITY_CONTACT: lambda _: values.security_contact,
        catalog.Carries.SECURITY_POLICY_URL: lambda _: values.security_policy_url,
    }
    for variable in spec.variables:
        environment[variable.name] = resolve[variable.carries](variable.resource)
    if spec.sends_email:
        # Its bounce and complaint rates have alarms (docs/alarms.md); "" locally, where no set exists.
        environment["MAIL_CONFIGURATION_SET"] = values.mail_configuration_set
    return environment

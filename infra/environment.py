"""The one definition of a function's environment: CDK sets it on the Lambda, the local stack scopes it per call."""

from __future__ import annotations

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


@dataclass(frozen=True)
class StageValues:
    """The stage-wide values every function reads (from StageConfig deployed; the local stack has its own)."""

    stage: str
    public_base_url: str
    security_contact: str
    security_policy_url: str
    mail_from: str
    audit_retention_days: int = 400

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
        )


def function_environment(spec: catalog.Function, names: ResourceNames, values: StageValues) -> dict[str, str]:
    """Every variable the function gets: its stage, and the names of exactly the resources it is granted.

    `spec` should come from catalog.for_stage(values.stage), which drops what the stage does not deploy.
    """
    environment = {
        "STAGE": values.stage,
        "POWERTOOLS_SERVICE_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "LOG_LEVEL": "INFO",
        "SECURITY_CONTACT": values.security_contact,
        "SECURITY_POLICY_URL": values.security_policy_url,
        "PUBLIC_BASE_URL": values.public_base_url,
    }
    if spec.sends_email:
        environment["MAIL_FROM"] = values.mail_from
    for table_id in spec.tables:
        environment[catalog.table(table_id).env] = names.table(table_id)
    for queue_id in spec.queues:
        environment[catalog.queue(queue_id).env] = names.queue(queue_id)
    for secret_id in spec.secrets:
        environment[catalog.secret(secret_id).env] = names.secret(secret_id)
    if spec.uses_data_key:
        environment["DATA_KEY_ID"] = names.data_key()
    if spec.uses_audit_mac:
        environment["AUDIT_MAC_KEY_ID"] = names.audit_mac_key()
    if "Audit" in spec.tables:
        environment["AUDIT_RETENTION_DAYS"] = str(values.audit_retention_days)
    if spec.audit_anchors is not None:
        environment["AUDIT_ANCHOR_BUCKET"] = names.anchor_bucket()
    return environment

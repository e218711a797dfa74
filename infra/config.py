"""StageConfig: everything that differs between the dev and prod stages, read from cdk.json context by app.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from switchboard.settings import MAIL_FROM

ROOT = Path(__file__).resolve().parent.parent
# The example accounts of cdk.json and the AWS docs: a deploy to one of them is a mistake, never intended.
PLACEHOLDER_ACCOUNTS = frozenset({"111111111111", "222222222222", "123456789012"})
# RFC 2606 reserves .example: a domain, sender or contact there cannot be validated or reached.
_EXAMPLE_DOMAIN = re.compile(r"[.@]example(?:[/>\s]|$)")
TRUSTSTORE_KEY = "aop-ca.pem"
PEM_MARKER = "-----BEGIN CERTIFICATE-----"
PROTECTIONS = ("deletion_protection", "retain_data", "lock_backups", "termination_protection")
# The one-machine stack's stage (`make dev`, tests): it has sandbox carriers and trusts the socket address, so it is
# never deployed. The stages the code knows are switchboard.settings.STAGES; cdk.json's must be among them (a test).
LOCAL_STAGE = "local"


class StageError(ValueError):
    """The stage asked for cannot be deployed: unknown to cdk.json, or the local stack's own."""


@dataclass(frozen=True)
class StageConfig:
    """One deployment stage (its own AWS account)."""

    name: str
    account: str
    region: str
    domain_name: str  # the origin hostname Cloudflare proxies to, e.g. api.switchboard.example
    alarm_email: str
    security_contact: str  # mailto: or https: URI for security.txt
    security_policy_url: str
    log_retention_days: int = 90
    audit_log_retention_days: int = 400
    throttle_rate_limit: int = 500
    throttle_burst_limit: int = 1000
    # AWS WAF, requests per 5 minutes per CF-Connecting-IP. Every route but provider callbacks: above the busiest
    # plan's account rate (enterprise 500/s + burst 1,000 = 151,000), so the WAF never cuts a customer below its plan
    # (the API's own per-key and per-account buckets do that, with a 429 the customer can read).
    waf_rate_limit_per_ip: int = 160_000
    waf_auth_rate_limit_per_ip: int = 100  # credential routes (login, signup, resets, reauth...): per client
    # Carrier and billing callbacks: three status callbacks per message at the busiest plan's account rate.
    waf_callback_rate_limit_per_ip: int = 500_000
    # Cloudflare (`make edge`): the zone holding domain_name (its id is looked up when not given) and the edge rate
    # rule on credential routes (per client IP and Cloudflare data center; the period and timeout need Pro or above).
    cloudflare_zone: str = ""
    cloudflare_zone_id: str = ""
    cloudflare_credential_requests: int = 20
    cloudflare_rate_period_s: int = 60
    cloudflare_rate_timeout_s: int = 600
    mail_from: str = MAIL_FROM  # the SES sender of transactional e-mail
    # Zero-downtime deploys and capacity (docs/alarms.md#deploys). Each queue worker reserves this many concurrent
    # executions (and its event source maps at most this many: SQS maxConcurrency, at least 2), so workers can
    # never take the concurrency the authorizer and the API draw from; the authorizer's alias keeps this many
    # environments initialized (0: none).
    worker_concurrency: int = 10
    authorizer_provisioned_concurrency: int = 0
    # The synthetic canary also sends one message with the canary account's key every run (costs a message each).
    canary_send: bool = False
    # The stage's protections (all on unless cdk.json turns them off; dev does so `make destroy` can remove it):
    deletion_protection: bool = True  # DynamoDB deletion protection on every table
    retain_data: bool = True  # RETAIN removal policy on tables, queues, keys, secrets and the truststore bucket
    lock_backups: bool = True  # backup vault retained, with the policy denying deletion of recovery points
    termination_protection: bool = True  # CloudFormation termination protection on every stack of the stage
    # PEM bundle with only our Authenticated Origin Pulls CA; relative to the repository (certs/<stage>/aop-ca.pem)
    truststore_pem: str = ""

    @classmethod
    def from_context(cls, name: str, context: dict[str, Any]) -> StageConfig:
        """Build the stage from cdk.json's `stages.<name>` context; unknown keys are an error."""
        if name == LOCAL_STAGE or LOCAL_STAGE in context:
            raise StageError(
                f"{LOCAL_STAGE!r} is the local stack's stage (sandbox carriers, socket IPs trusted) and is never "
                f"deployed: choose one of {sorted(s for s in context if s != LOCAL_STAGE)} (-c stage=...)"
            )
        if name not in context:
            raise StageError(f"unknown stage {name!r}; cdk.json defines {sorted(context)}")
        return cls(name=name, **context[name])

    def __post_init__(self) -> None:
        if self.worker_concurrency < 2:
            raise StageError(f"stages.{self.name}.worker_concurrency must be at least 2 (SQS maxConcurrency)")
        if self.authorizer_provisioned_concurrency < 0:
            raise StageError(f"stages.{self.name}.authorizer_provisioned_concurrency cannot be negative")

    @classmethod
    def from_cdk_json(cls, name: str, cdk_json: Path = ROOT / "cdk.json") -> StageConfig:
        """The stage as cdk.json defines it (the operations scripts, which run outside the CDK app)."""
        return cls.from_context(name, json.loads(cdk_json.read_text())["context"]["stages"])

    @property
    def truststore_pem_path(self) -> Path:
        """Where `make bootstrap` reads the truststore bundle from (committed: a CA certificate is public)."""
        return ROOT / (self.truststore_pem or f"certs/{self.name}/aop-ca.pem")

    def placeholders(self) -> list[str]:
        """The cdk.json keys (`stages.<name>.<field>`) still holding an example value: deploying them is refused."""
        found = []
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, str) or field.name == "name":
                continue
            if (field.name == "account" and (value in PLACEHOLDER_ACCOUNTS or not re.fullmatch(r"\d{12}", value))) or (
                _EXAMPLE_DOMAIN.search(value)
            ):
                found.append(f"stages.{self.name}.{field.name}")
        return found

    def protections(self) -> list[str]:
        """The protection settings that are on: a stage with any of them cannot be destroyed by `make destroy`."""
        return [name for name in PROTECTIONS if getattr(self, name)]


def stack_names(stage: str) -> tuple[str, str]:
    """The CloudFormation stack names of a stage's data and API stacks."""
    return f"Switchboard-{stage}-Data", f"Switchboard-{stage}-Api"


def bootstrap_stack_name(stage: str) -> str:
    """The CloudFormation stack name of a stage's bootstrap stack (`make bootstrap`)."""
    return f"Switchboard-{stage}-Bootstrap"

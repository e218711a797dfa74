"""StageConfig: everything that differs between the dev and prod stages, read from cdk.json context by app.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    truststore_uri: str  # s3://bucket/key of the PEM bundle holding only our AOP CA certificate
    truststore_version: str  # S3 object version of that bundle
    alarm_email: str
    security_contact: str  # mailto: or https: URI for security.txt
    security_policy_url: str
    log_retention_days: int = 90
    audit_log_retention_days: int = 400
    throttle_rate_limit: int = 500
    throttle_burst_limit: int = 1000
    waf_rate_limit_per_ip: int = 2000  # requests per 5 minutes per CF-Connecting-IP
    waf_auth_rate_limit_per_ip: int = 100  # the stricter limit on /v1/sessions and other auth routes
    mail_from: str = "Switchboard <no-reply@switchboard.example>"  # the SES sender of transactional e-mail
    retain_data: bool = True  # RETAIN stateful resources and protect the stacks against termination

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

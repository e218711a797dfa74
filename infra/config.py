"""StageConfig: everything that differs between the dev and prod stages, read from cdk.json context by app.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    mail_from: str = "Switchboard <no-reply@switchboard.example>"  # the SES sender of transactional e-mail
    retain_data: bool = True  # RETAIN stateful resources and protect the stacks against termination

    @classmethod
    def from_context(cls, name: str, context: dict[str, Any]) -> StageConfig:
        """Build the stage from cdk.json's `stages.<name>` context; unknown keys are an error."""
        if name not in context:
            raise KeyError(f"unknown stage {name!r}; cdk.json defines {sorted(context)}")
        return cls(name=name, **context[name])

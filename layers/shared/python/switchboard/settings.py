"""Environment-variable settings, parsed once per process; the only module that reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    """What a function learns from its environment (CDK sets it deployed; local/ sets it on one machine)."""

    stage: str
    tables: dict[str, str]  # env var name -> physical table name, e.g. PLATFORM_TABLE -> Switchboard-dev-Platform...
    queues: dict[str, str]  # env var name -> queue URL
    secrets: dict[str, str]  # env var name -> secret ARN or name
    data_key_id: str
    security_contact: str
    security_policy_url: str
    public_base_url: str
    mail_from: str
    # A failed login answers no sooner than this, so the work a known e-mail costs (counters, audit) beyond an
    # unknown one's cannot be timed (R8). Tests under moto set 0; deployed and locally it applies.
    login_failure_floor_ms: int = 400
    # Where e-mailed links open (the web console); each e-mail also names the API call that takes the token.
    console_base_url: str = "https://console.switchboard.example"
    webhook_retry_base_s: int = 30  # first webhook retry delay; it doubles up to an hour (WEBHOOK_RETRY_BASE_S)
    # Cloudflare's published ranges (R47 drift job); only the local stack and tests point it at a loopback fake.
    cloudflare_ips_url: str = "https://api.cloudflare.com/client/v4/ips"

    def table(self, env: str) -> str:
        """The physical name of the table whose catalog env var is `env` (a clear error when unset)."""
        try:
            return self.tables[env]
        except KeyError:
            raise RuntimeError(f"{env} is not set for this function") from None

    @property
    def is_local(self) -> bool:
        """True in the one-machine stack and tests, where /_local routes and sandbox carriers exist."""
        return self.stage == "local"


@cache
def get() -> Settings:
    """The settings of this process, read on first use (never at import)."""
    env = os.environ
    return Settings(
        stage=env.get("STAGE", "local"),
        tables={k: v for k, v in env.items() if k.endswith("_TABLE")},
        queues={k: v for k, v in env.items() if k.endswith("_QUEUE_URL")},
        secrets={k: v for k, v in env.items() if k.endswith("_SECRET")},
        data_key_id=env.get("DATA_KEY_ID", ""),
        security_contact=env.get("SECURITY_CONTACT", "mailto:security@switchboard.example"),
        security_policy_url=env.get("SECURITY_POLICY_URL", "https://switchboard.example/security/policy"),
        public_base_url=env.get("PUBLIC_BASE_URL", "https://api.switchboard.example"),
        mail_from=env.get("MAIL_FROM", "Switchboard <no-reply@switchboard.example>"),
        webhook_retry_base_s=int(env.get("WEBHOOK_RETRY_BASE_S", "30")),
        login_failure_floor_ms=int(env.get("LOGIN_FAILURE_FLOOR_MS", "400")),
        console_base_url=env.get("CONSOLE_BASE_URL", "https://console.switchboard.example"),
        cloudflare_ips_url=env.get("CLOUDFLARE_IPS_URL", "https://api.cloudflare.com/client/v4/ips"),
    )


def reload() -> Settings:
    """Forget the parsed settings and read the environment again (tests and the local stack bootstrap)."""
    get.cache_clear()
    return get()

"""Environment-variable settings, checked against the catalog at cold start; the only module that reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import NoReturn

from switchboard import catalog


@dataclass(frozen=True)
class StageRules:
    """What the code does differently by stage: every switch is named here, none is inferred from a stage name."""

    sandbox_carriers: bool  # sandbox-a/b exist: registry entries, their events route and SANDBOX_CREDENTIALS_SECRET
    test_mode: bool  # new API keys are sb_test_ and sessions act in test mode: every send goes to the sandbox
    trust_socket_ip: bool  # no Cloudflare in front: the socket address is the client (else only CF-Connecting-IP)
    loopback_webhooks: bool  # webhook and callback URLs may be http and target loopback or private addresses
    breach_check: bool = True  # new passwords are looked up in Pwned Passwords (the local stack has no internet)


# Deployed stages (cdk.json `stages`) behave alike: dev runs exactly what prod runs. Only the one-machine stack
# (`make dev`, tests) has sandbox carriers, test mode, socket IPs and loopback webhooks. switchboard/catalog.py deploys
# SandboxCredentials to the stages whose rules have sandbox_carriers (a test ties the two).
STAGES: Mapping[str, StageRules] = {
    "local": StageRules(
        sandbox_carriers=True, test_mode=True, trust_socket_ip=True, loopback_webhooks=True, breach_check=False
    ),
    "dev": StageRules(sandbox_carriers=False, test_mode=False, trust_socket_ip=False, loopback_webhooks=False),
    "prod": StageRules(sandbox_carriers=False, test_mode=False, trust_socket_ip=False, loopback_webhooks=False),
}

# Timing and link knobs with deployed defaults that tests and the local stack tune (the local stack points the drift
# job at its own Cloudflare fake, so it never reaches the internet); never a resource or the stage.
TUNING: tuple[str, ...] = (
    "LOGIN_FAILURE_FLOOR_MS",
    "WEBHOOK_RETRY_BASE_S",
    "WEBHOOK_TIMEOUT_S",
    "CONSOLE_BASE_URL",
    "CLOUDFLARE_IPS_URL",
    "BREACHED_PASSWORDS_URL",
    "RECEIPT_CHECK_AFTER_S",
    "RECEIPT_GIVE_UP_S",
    "EARLY_RECEIPT_TTL_S",
)
PWNED_PASSWORDS_URL = "https://api.pwnedpasswords.com/range"
# The sender of platform e-mail where a stage names none (infra/config.py's default, the local stack's).
MAIL_FROM = "Switchboard <no-reply@switchboard.example>"


class UnknownStage(RuntimeError):
    """STAGE is missing or names no known stage: the function refuses to run rather than guess (fail closed)."""


class NotGranted(RuntimeError):
    """The code asked for a resource variable this function does not have: its catalog entry does not grant it."""


class MissingSettings(RuntimeError):
    """A function's environment lacks variables its catalog entry promises: it refuses to start (fail closed)."""


def _function(env: Mapping[str, str]) -> catalog.Function | None:
    """The catalog function `env` belongs to (POWERTOOLS_SERVICE_NAME); None for local tooling and the bench."""
    return catalog.find(env.get("POWERTOOLS_SERVICE_NAME"))


def missing(env: Mapping[str, str]) -> tuple[str, ...]:
    """The variables the catalog entry of `env`'s function promises in `env`'s stage and `env` lacks (or has empty)."""
    spec = _function(env)
    if spec is None:
        return ()
    return tuple(v.name for v in catalog.in_stage(spec, env.get("STAGE", "")).variables if not env.get(v.name))


def load(env: Mapping[str, str]) -> Settings:
    """A function's settings: from_environment, and MissingSettings (every missing variable named at once) when
    the function's environment lacks anything its catalog entry promises."""
    absent = missing(env) if env.get("STAGE", "") in STAGES else ()  # else from_environment's UnknownStage
    if absent:
        raise MissingSettings(
            f"function {env['POWERTOOLS_SERVICE_NAME']} cannot start: its environment lacks {', '.join(absent)}, "
            "which its entry in switchboard/catalog.py promises (infra/environment.py sets them deployed, "
            "local/provision.py locally)"
        )
    return from_environment(env)


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
    mail_from: str = MAIL_FROM
    mail_configuration_set: str = ""  # SES configuration set (bounce/complaint reputation metrics); "" locally
    # The audit trail's KMS HMAC key (its writers GenerateMac, its verifiers VerifyMac) and the Object Lock bucket
    # its chain heads are anchored in (R55); "" where the function has neither.
    audit_mac_key_id: str = ""
    audit_anchor_bucket: str = ""
    receipt_key_id: str = ""  # R61: the deletion receipts' KMS signing key; "" where the function has none
    audit_retention_days: int = 400  # R55: audit events expire (TTL) and their archive is locked this long
    service: str = ""  # the catalog function's name (POWERTOOLS_SERVICE_NAME); "" outside a function
    # A failed login answers no sooner than this, so the work a known e-mail costs (counters, audit) beyond an
    # unknown one's cannot be timed (R8). Tests under moto set 0; deployed and locally it applies.
    login_failure_floor_ms: int = 400
    # Where e-mailed links open (the web console); each e-mail also names the API call that takes the token.
    console_base_url: str = "https://console.switchboard.example"
    webhook_retry_base_s: int = 30  # first webhook retry delay; it doubles up to an hour (WEBHOOK_RETRY_BASE_S)
    webhook_timeout_s: float = 5.0  # one delivery's total deadline, DNS to last byte (WEBHOOK_TIMEOUT_S)
    # Cloudflare's published ranges (R47 drift job); only the local stack and tests point it at a loopback fake.
    cloudflare_ips_url: str = "https://api.cloudflare.com/client/v4/ips"
    # The Pwned Passwords range API (R2b); "" switches the breach check off. Deployed stages default to the real
    # service; the local stack has it off unless BREACHED_PASSWORDS_URL points at a fake.
    breached_passwords_url: str = ""
    # Receipts (docs/messaging.md): a message still `sent` this long is checked with its carrier's status API, again
    # each period while the carrier says it is in flight, and marked `receipt_missing` once this old; a receipt that
    # outruns its carrier-id mapping is kept this long for the send worker to apply.
    receipt_check_after_s: int = 3600
    receipt_give_up_s: int = 3 * 86400
    early_receipt_ttl_s: int = 86400
    # status_page_job's JSON configuration (catalog.STATUS_PAGE_CONFIG_ENV): "" in every other function.
    status_page_config: str = ""
    buckets: dict[str, str] = field(default_factory=dict)  # a catalog bucket's env var -> its name

    def table(self, env: str) -> str:
        """The physical name of the table whose catalog env var is `env` (NotGranted when unset)."""
        return self.tables.get(env) or self._not_granted(env)

    def queue(self, env: str) -> str:
        """The URL of the queue whose catalog env var is `env` (NotGranted when unset)."""
        return self.queues.get(env) or self._not_granted(env)

    def secret(self, env: str) -> str:
        """The ARN or name of the secret whose catalog env var is `env` (NotGranted when unset)."""
        return self.secrets.get(env) or self._not_granted(env)

    def bucket(self, env: str) -> str:
        """The name of the catalog bucket whose env var is `env` (NotGranted when unset)."""
        return self.buckets.get(env) or self._not_granted(env)

    def key(self, env: str) -> str:
        """DATA_KEY_ID, AUDIT_MAC_KEY_ID, AUDIT_ANCHOR_BUCKET or RECEIPT_KEY_ID (NotGranted when unset)."""
        values = {
            "DATA_KEY_ID": self.data_key_id,
            "AUDIT_MAC_KEY_ID": self.audit_mac_key_id,
            catalog.AUDIT_ANCHOR_BUCKET_ENV: self.audit_anchor_bucket,
            "RECEIPT_KEY_ID": self.receipt_key_id,
        }
        return values[env] or self._not_granted(env)

    def _not_granted(self, env: str) -> NoReturn:
        # Deployed, every variable a function's entry promises was checked at its cold start (load): reaching here
        # means the code uses a resource its catalog entry does not grant (or an unchecked test scope lacks it).
        whose = f" ({self.service}'s catalog entry does not promise it)" if self.service else ""
        raise NotGranted(f"{env} is not set for this function{whose}")

    @property
    def rules(self) -> StageRules:
        """The stage's switches (STAGE was checked when these settings were read)."""
        return STAGES[self.stage]


def from_environment(env: Mapping[str, str]) -> Settings:
    """Settings from one environment; UnknownStage when STAGE is missing or unknown."""
    stage = env.get("STAGE", "")
    if stage not in STAGES:
        shown = repr(stage) if stage else "missing"
        raise UnknownStage(f"STAGE is {shown}; a function runs only in a known stage: {', '.join(STAGES)}")
    return Settings(
        stage=stage,
        tables={k: v for k, v in env.items() if k.endswith("_TABLE")},
        queues={k: v for k, v in env.items() if k.endswith("_QUEUE_URL")},
        secrets={k: v for k, v in env.items() if k.endswith("_SECRET")},
        data_key_id=env.get("DATA_KEY_ID", ""),
        audit_mac_key_id=env.get("AUDIT_MAC_KEY_ID", ""),
        audit_anchor_bucket=env.get(catalog.AUDIT_ANCHOR_BUCKET_ENV, ""),
        receipt_key_id=env.get("RECEIPT_KEY_ID", ""),
        audit_retention_days=int(env.get("AUDIT_RETENTION_DAYS", "400")),
        service=env.get("POWERTOOLS_SERVICE_NAME", ""),
        security_contact=env.get("SECURITY_CONTACT", "mailto:security@switchboard.example"),
        security_policy_url=env.get("SECURITY_POLICY_URL", "https://switchboard.example/security/policy"),
        public_base_url=env.get("PUBLIC_BASE_URL", "https://api.switchboard.example"),
        mail_from=env.get("MAIL_FROM", MAIL_FROM),
        mail_configuration_set=env.get("MAIL_CONFIGURATION_SET", ""),
        webhook_retry_base_s=int(env.get("WEBHOOK_RETRY_BASE_S", "30")),
        webhook_timeout_s=float(env.get("WEBHOOK_TIMEOUT_S", "5")),
        login_failure_floor_ms=int(env.get("LOGIN_FAILURE_FLOOR_MS", "400")),
        # The console is served under the API's own origin (catalog.CONSOLE_PREFIX) unless a stage says otherwise.
        console_base_url=env.get("CONSOLE_BASE_URL")
        or env.get("PUBLIC_BASE_URL", "https://api.switchboard.example").rstrip("/") + catalog.CONSOLE_PREFIX,
        cloudflare_ips_url=env.get("CLOUDFLARE_IPS_URL", "https://api.cloudflare.com/client/v4/ips"),
        receipt_check_after_s=int(env.get("RECEIPT_CHECK_AFTER_S", "3600")),
        receipt_give_up_s=int(env.get("RECEIPT_GIVE_UP_S", str(3 * 86400))),
        early_receipt_ttl_s=int(env.get("EARLY_RECEIPT_TTL_S", "86400")),
        status_page_config=env.get(catalog.STATUS_PAGE_CONFIG_ENV, ""),
        buckets={b.env: env[b.env] for b in catalog.BUCKETS if env.get(b.env)},
        breached_passwords_url=env.get(
            "BREACHED_PASSWORDS_URL", PWNED_PASSWORDS_URL if STAGES[stage].breach_check else ""
        ),
    )


# One process, many functions (the local stack, tests): the function being invoked runs in a scope that holds its
# own environment. Deployed, no scope is ever set and the process environment is the function's.
_scoped: ContextVar[Settings | None] = ContextVar("switchboard_settings", default=None)


@cache
def _process() -> Settings:
    return load(os.environ)


def get() -> Settings:
    """The current function's settings: its scope's, else this process's (a function's were read at import)."""
    scoped = _scoped.get()
    return scoped if scoped is not None else _process()


def current_scope() -> Settings | None:
    """The settings of the function scope this code runs in; None outside any (deployed, or local tooling)."""
    return _scoped.get()


@contextmanager
def scope(env: Mapping[str, str]) -> Iterator[Settings]:
    """Run the body as a function whose whole environment is `env` (nothing of the process environment leaks in)."""
    # Not load(): the local stack checked each function's environment when it started (local.lambdas.Invoker), and
    # the tests' harness cuts partial environments on purpose (a variable they lack is refused at use: NotGranted).
    current = from_environment(env)
    token = _scoped.set(current)
    try:
        yield current
    finally:
        _scoped.reset(token)


def process_tuning() -> dict[str, str]:
    """The TUNING variables this process sets (tests tune timings; each function scope gets them too)."""
    return {k: os.environ[k] for k in TUNING if k in os.environ}


def reload() -> None:
    """Forget the parsed settings: the next use reads the environment again (tests and the local stack bootstrap)."""
    _process.cache_clear()


# Deployed, this process is one catalog function: its environment is checked as its code is first imported (the
# cold start fails with MissingSettings or UnknownStage), never at a request. Local tooling names no function.
if _function(os.environ) is not None:
    _process()

"""`make edge`: the Cloudflare side of the edge as code, planned from the stage config and applied idempotently.

What the zone must hold for a stage (R44, R46, R49): the proxied CNAME from `domain_name` to the API's regional
custom-domain target, SSL Full (strict), minimum TLS 1.2, TLS 1.3, Always Use HTTPS, HSTS, Authenticated Origin Pulls
for the API hostname with our own client certificate, a rate rule on the credential routes (derived from the catalog),
and the DNS-only records that validate the ACM certificate and the SES sending domain (DKIM). `plan` compares that with
what the zone holds and lists the changes; `apply` makes them. The API token comes from CLOUDFLARE_API_TOKEN only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from cloudflare import APIError, Cloudflare, NotFoundError

from infra.config import StageConfig

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105 - the variable's name, not a token
RATE_PHASE = "http_ratelimit"
RATE_RULE_REF = "switchboard_credential_routes"
# Cloudflare's counter is per data center; with the client IP it is per client (the only characteristic lower plans
# accept besides cf.colo.id, which is mandatory).
RATE_CHARACTERISTICS = ["cf.colo.id", "ip.src"]
# The same HSTS policy the API sends itself (SECURITY_HEADERS): one year, subdomains, no preload list commitment.
HSTS = {"enabled": True, "max_age": 31536000, "include_subdomains": True, "preload": False, "nosniff": True}
ZONE_SETTINGS: dict[str, Any] = {
    "ssl": "strict",  # Full (strict): Cloudflare verifies the origin's ACM certificate
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    "always_use_https": "on",
    "security_header": {"strict_transport_security": HSTS},
}
AUTO_TTL = 1


class EdgeError(Exception):
    """A problem the operator must fix (missing token, unknown zone, unreadable input); printed without a trace."""


@dataclass(frozen=True)
class Record:
    """A DNS record the zone must hold."""

    type: str
    name: str
    content: str
    proxied: bool
    why: str


@dataclass(frozen=True)
class Inputs:
    """What the stage config cannot know: values of the deployed stacks and the operator's AOP certificate."""

    origin_target: str = ""  # the custom domain's regional domain name (stack output RegionalDomainName)
    certificate_validation: tuple[tuple[str, str], ...] = ()  # ACM's (name, value) CNAMEs
    dkim_tokens: tuple[str, ...] = ()  # SES Easy DKIM tokens of the sending domain
    aop_certificate: Path | None = None  # PEM client certificate issued by our AOP CA
    aop_private_key: Path | None = None  # its key (read, sent to Cloudflare on upload, never printed)

    @classmethod
    def from_file(cls, path: Path) -> Inputs:
        """Read `{origin_target, certificate_validation: [{name, value}], dkim_tokens, aop_certificate,
        aop_private_key}`; relative certificate paths are relative to the file."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise EdgeError(f"cannot read the inputs file {path}: {error}") from None
        if not isinstance(data, dict):
            raise EdgeError(f"{path} must hold a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise EdgeError(f"{path}: unknown keys {sorted(unknown)}")

        def local(value: Any) -> Path | None:
            return (path.parent / str(value)) if value else None

        return cls(
            origin_target=str(data.get("origin_target", "")),
            certificate_validation=tuple(
                (str(r["name"]), str(r["value"])) for r in data.get("certificate_validation", [])
            ),
            dkim_tokens=tuple(str(t) for t in data.get("dkim_tokens", [])),
            aop_certificate=local(data.get("aop_certificate")),
            aop_private_key=local(data.get("aop_private_key")),
        )


@dataclass
class Change:
    """One difference between the zone and the stage; `run` makes it."""

    action: str  # create | update | upload
    subject: str
    current: Any
    desired: Any
    run: Callable[[], object] = field(repr=False, compare=False)

    def describe(self) -> str:
        """One line of the plan."""
        sign = {"create": "+", "upload": "+", "update": "~"}[self.action]
        if self.action == "update":
            return f"  {sign} {self.action} {self.subject}: {_show(self.current)} -> {_show(self.desired)}"
        return f"  {sign} {self.action} {self.subject}: {_show(self.desired)}"


@dataclass
class Plan:
    """The changes that would make the zone match the stage, and what could not be planned (and why)."""

    zone: str
    zone_id: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, stage: str) -> str:
        """The plan as `make edge` prints it."""
        count = len(self.changes)
        lines = [f"Cloudflare zone {self.zone} ({self.zone_id}), stage {stage}: {count} change{'s' * (count != 1)}"]
        lines += [change.describe() for change in self.changes] or ["  (the zone already matches the stage)"]
        lines += [f"  ! {note}" for note in self.notes]
        return "\n".join(lines)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _plain(value: Any) -> Any:
    """An SDK model (or anything holding them) as plain JSON data."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _covers(current: Any, desired: Any) -> bool:
    """True when `current` has every key and value of `desired` (extra keys in `current` are Cloudflare's own)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(_covers(current.get(k), v) for k, v in desired.items())
    return bool(current == desired)


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _in_zone(name: str, zone: str) -> bool:
    return _host(name) == _host(zone) or _host(name).endswith("." + _host(zone))


def credential_expression() -> str:
    """The Cloudflare rule expression matching the public credential routes (derived from the catalog) and the
    console's credential forms, which browsers post from their own address."""
    from infra.constructs.edge import console_credential_routes, credential_routes  # noqa: PLC0415 - loads aws_cdk

    by_method: dict[str, list[str]] = {}
    for route in [*credential_routes(), *console_credential_routes()]:
        # Routes with a path parameter or behind a session are left to the AWS WAF (lower plans have no regex).
        if route.auth.value == "public" and "{" not in route.path:
            by_method.setdefault(route.method, []).append(route.path)
    parts = []
    for method, paths in sorted(by_method.items()):
        listed = " ".join(json.dumps(path) for path in sorted(paths))
        parts.append(f'(http.request.method eq "{method}" and http.request.uri.path in {{{listed}}})')
    return " or ".join(parts)


def rate_rule(config: StageConfig) -> dict[str, Any]:
    """Our rule in the zone's rate-limiting phase: per client IP (and data center) on the credential routes."""
    return {
        "ref": RATE_RULE_REF,
        "description": "Switchboard: credential routes per client (make edge)",
        "expression": credential_expression(),
        "action": "block",
        "enabled": True,
        "ratelimit": {
            "characteristics": RATE_CHARACTERISTICS,
            "period": config.cloudflare_rate_period_s,
            "requests_per_period": config.cloudflare_credential_requests,
            "mitigation_timeout": config.cloudflare_rate_timeout_s,
        },
    }


def desired_records(config: StageConfig, inputs: Inputs, zone: str, notes: list[str]) -> list[Record]:
    """The DNS records the zone must hold; what cannot be known yet goes to `notes`."""
    records = []
    if inputs.origin_target:
        records.append(Record("CNAME", config.domain_name, inputs.origin_target, True, "API origin"))
    else:
        notes.append(
            f"no origin_target: the proxied CNAME {config.domain_name} is not planned (deploy, then pass the "
            "stack output RegionalDomainName)"
        )
    if inputs.certificate_validation:
        records += [
            Record("CNAME", name, value, False, "ACM certificate validation")
            for name, value in inputs.certificate_validation
        ]
    else:
        notes.append("no certificate_validation: the ACM validation CNAME is not planned")
    mail_domain = parseaddr(config.mail_from)[1].rpartition("@")[2]
    if not inputs.dkim_tokens:
        notes.append(f"no dkim_tokens: the SES DKIM records of {mail_domain} are not planned")
    elif not _in_zone(mail_domain, zone):
        notes.append(f"the mail domain {mail_domain} is not in zone {zone}: its DKIM records belong to another zone")
    else:
        records += [
            Record("CNAME", f"{token}._domainkey.{mail_domain}", f"{token}.dkim.amazonses.com", False, "SES DKIM")
            for token in inputs.dkim_tokens
        ]
    for record in records:
        if not _in_zone(record.name, zone):
            raise EdgeError(f"{record.name} ({record.why}) is not in zone {zone}")
    return records


def _fingerprint(pem: str) -> str:
    from cryptography import x509  # noqa: PLC0415

    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return ""
    return hashlib.sha256(certificate.public_bytes(_der())).hexdigest()


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    return Encoding.DER


class Planner:
    """Computes the plan for one stage against one zone through the official SDK."""

    def __init__(self, client: Cloudflare, config: StageConfig, inputs: Inputs) -> None:
        # The SDK types every call as a union of overloads and TypedDicts; our requests are checked by the tests.
        self.client: Any = client
        self.config = config
        self.inputs = inputs

    def zone(self) -> tuple[str, str]:
        """The zone's name and id (looked up by name unless the config gives the id)."""
        name = self.config.cloudflare_zone
        if not name:
            raise EdgeError(f"set cloudflare_zone for stage {self.config.name} in cdk.json")
        if not _in_zone(self.config.domain_name, name):
            raise EdgeError(f"domain_name {self.config.domain_name} is not in cloudflare_zone {name}")
        if self.config.cloudflare_zone_id:
            return name, self.config.cloudflare_zone_id
        zones = [z for z in self.client.zones.list(name=name) if _host(z.name) == _host(name)]
        if len(zones) != 1:
            raise EdgeError(f"the token sees {len(zones)} zones named {name}: set cloudflare_zone_id in cdk.json")
        return name, str(zones[0].id)

    def plan(self) -> Plan:
        """Every change that would make the zone match the stage."""
        name, zone_id = self.zone()
        plan = Plan(zone=name, zone_id=zone_id)
        for record in desired_records(self.config, self.inputs, name, plan.notes):
            plan.changes += self._record(zone_id, record)
        for setting, value in ZONE_SETTINGS.items():
            plan.changes += self._setting(zone_id, setting, value)
        plan.changes += self._origin_pulls(zone_id, plan.notes)
        plan.changes += self._rate_rule(zone_id)
        return plan

    def _record(self, zone_id: str, record: Record) -> list[Change]:
        records = self.client.dns.records
        found = list(records.list(zone_id=zone_id, name={"exact": _host(record.name)}, type=record.type))
        desired = {"content": _host(record.content), "proxied": record.proxied}
        fields = {"zone_id": zone_id, "name": _host(record.name), "type": record.type, "ttl": AUTO_TTL}
        fields |= {"content": _host(record.content), "proxied": record.proxied}
        subject = f"DNS {record.type} {_host(record.name)} ({record.why})"
        if not found:
            return [Change("create", subject, None, desired, lambda: records.create(**fields))]
        current = {"content": _host(found[0].content or ""), "proxied": bool(found[0].proxied)}
        if current == desired:
            return []
        record_id = found[0].id
        return [Change("update", subject, current, desired, lambda: records.edit(record_id, **fields))]

    def _setting(self, zone_id: str, setting: str, value: Any) -> list[Change]:
        settings = self.client.zones.settings
        current = _plain(getattr(settings.get(setting, zone_id=zone_id), "value", None))
        if _covers(current, value):
            return []
        return [
            Change(
                "update",
                f"zone setting {setting}",
                current,
                value,
                lambda: settings.edit(setting, zone_id=zone_id, value=value),
            )
        ]

    def _origin_pulls(self, zone_id: str, notes: list[str]) -> list[Change]:
        inputs, hostname = self.inputs, _host(self.config.domain_name)
        if inputs.aop_certificate is None or inputs.aop_private_key is None:
            notes.append(f"no aop_certificate/aop_private_key: Authenticated Origin Pulls for {hostname} not planned")
            return []
        try:
            certificate = inputs.aop_certificate.read_text()
        except OSError as error:
            raise EdgeError(f"cannot read the AOP certificate: {error}") from None
        fingerprint = _fingerprint(certificate)
        if not fingerprint:
            raise EdgeError(f"{inputs.aop_certificate} is not a PEM certificate")
        auth = self.client.origin_tls_client_auth
        uploaded = [
            c
            for c in auth.hostname_certificates.list(zone_id=zone_id)
            if _fingerprint(c.certificate or "") == fingerprint
        ]
        changes: list[Change] = []
        cert_id = {"value": str(uploaded[0].id) if uploaded else ""}
        if not uploaded:
            key_path = inputs.aop_private_key

            def upload() -> None:
                try:
                    private_key = key_path.read_text()
                except OSError as error:
                    raise EdgeError(f"cannot read the AOP private key: {error}") from None
                created = auth.hostname_certificates.create(
                    zone_id=zone_id, certificate=certificate, private_key=private_key
                )
                if created is None or not created.id:
                    raise EdgeError("Cloudflare answered the certificate upload without an id: check the dashboard")
                cert_id["value"] = str(created.id)

            changes.append(Change("upload", "AOP client certificate", None, f"sha256:{fingerprint[:16]}", upload))
        try:
            association = _plain(auth.hostnames.get(hostname, zone_id=zone_id))
        except NotFoundError:  # never associated
            association = None
        current = (
            None if not association else {"cert_id": association.get("cert_id"), "enabled": association.get("enabled")}
        )
        if uploaded and current == {"cert_id": cert_id["value"], "enabled": True}:
            return changes
        desired = {"cert_id": cert_id["value"] or "(the uploaded certificate)", "enabled": True}

        def associate() -> None:
            auth.hostnames.update(
                zone_id=zone_id, config=[{"hostname": hostname, "cert_id": cert_id["value"], "enabled": True}]
            )

        changes.append(
            Change("create" if current is None else "update", f"AOP for {hostname}", current, desired, associate)
        )
        return changes

    def _rate_rule(self, zone_id: str) -> list[Change]:
        phases = self.client.rulesets.phases
        try:
            rules = _plain(list(phases.get(RATE_PHASE, zone_id=zone_id).rules or []))
        except NotFoundError:  # no entry point yet: the phase has no rules
            rules = []
        desired = rate_rule(self.config)
        ours = [r for r in rules if r.get("ref") == RATE_RULE_REF]
        if ours and _covers(ours[0], desired):
            return []
        kept = [_writable(r) for r in rules if r.get("ref") != RATE_RULE_REF]

        def update() -> None:
            phases.update(RATE_PHASE, zone_id=zone_id, rules=[*kept, desired])

        current = _writable(ours[0]) if ours else None
        return [Change("update" if ours else "create", f"rate rule {RATE_RULE_REF}", current, desired, update)]


def _writable(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as a PUT of the phase takes it back (other rules of the zone are kept as they are)."""
    keys = ("id", "ref", "description", "expression", "action", "action_parameters", "ratelimit", "enabled", "logging")
    return {k: rule[k] for k in keys if k in rule}


def apply(plan: Plan) -> None:
    """Make every change of the plan, in order (a certificate upload before its hostname association)."""
    for change in plan.changes:
        change.run()


def client(token: str, base_url: str | None = None) -> Cloudflare:
    """The official SDK's client, authenticated by the API token only."""
    sdk = Cloudflare(api_token=token, base_url=base_url, max_retries=2, timeout=30.0)
    # The SDK would also pick up a global API key or e-mail from the environment and prefer them: never use them.
    sdk.api_key = sdk.api_email = sdk.user_service_key = None
    return sdk


def token_from_environment(environ: Mapping[str, str] = os.environ) -> str:
    """The API token, from CLOUDFLARE_API_TOKEN only (never a file or an argument, which end up in shell history)."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise EdgeError(
            f"{TOKEN_ENV} is not set: export a Cloudflare API token scoped to this zone (Zone Settings, DNS, SSL and "
            "Certificates, Zone WAF: edit)"
        )
    return token


def stage_config(stage: str, cdk_json: Path = ROOT / "cdk.json") -> StageConfig:
    """The stage's StageConfig from cdk.json, as app.py reads it."""
    context = json.loads(cdk_json.read_text())["context"]
    return StageConfig.from_context(stage, context["stages"])


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """`make edge` arguments; no argument takes the token."""
    parser = argparse.ArgumentParser(prog="make edge", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--apply", action="store_true", help="make the changes (default: print the plan only)")
    parser.add_argument("--inputs", type=Path, help="JSON file with origin_target, certificate_validation, ...")
    parser.add_argument("--origin-target", default="")
    parser.add_argument("--certificate-validation", type=_pair, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--dkim-token", action="append", default=[])
    parser.add_argument("--aop-certificate", type=Path)
    parser.add_argument("--aop-private-key", type=Path)
    return parser.parse_args(list(argv))


def inputs_from(args: argparse.Namespace) -> Inputs:
    """The inputs file, overridden by the command line's values."""
    base = Inputs.from_file(args.inputs) if args.inputs else Inputs()
    return Inputs(
        origin_target=args.origin_target or base.origin_target,
        certificate_validation=tuple(args.certificate_validation) or base.certificate_validation,
        dkim_tokens=tuple(args.dkim_token) or base.dkim_tokens,
        aop_certificate=args.aop_certificate or base.aop_certificate,
        aop_private_key=args.aop_private_key or base.aop_private_key,
    )


def main(argv: Sequence[str], *, environ: Mapping[str, str] = os.environ) -> int:
    """Print the plan (and apply it with --apply); 0 on success, 2 on an operator error."""
    args = parse_args(argv)
    try:
        token = token_from_environment(environ)
        config = stage_config(args.stage)
        sdk = client(token, environ.get("CLOUDFLARE_BASE_URL") or None)
        planner = Planner(sdk, config, inputs_from(args))
        plan = planner.plan()
        print(plan.render(config.name))
        if not plan.changes:
            return 0
        if not args.apply:
            print(f"Plan only. `make edge STAGE={config.name} APPLY=1` makes these changes.")
            return 0
        apply(plan)
        print(f"Applied {len(plan.changes)} change{'s' * (len(plan.changes) != 1)}.")
    except EdgeError as error:
        print(f"make edge: {error}", file=sys.stderr)
        return 2
    except APIError as error:
        print(f"make edge: Cloudflare refused a request: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

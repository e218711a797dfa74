"""The edge of the API: Cloudflare-only resource policy, custom domain (TLS 1.2 + mTLS), the WAF web ACL and the
route classes (credential, callback) both WAFs scope their rate rules to, derived from the catalog."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.constructs.alarms import describe
from infra.constructs.log_group import encrypted_log_group
from infra.environment import METRICS_NAMESPACE
from infra.paths import SHARED_LAYER_DIR
from switchboard import catalog

# One list for the resource policy (synth) and the drift job (shipped in the shared layer, read at run time).
CLOUDFLARE_IPS_FILE = SHARED_LAYER_DIR / "python" / "switchboard" / "cloudflare_ips.json"
CLIENT_IP_HEADER = "CF-Connecting-IP"  # R48: the only client address we trust (R45-R47 make it Cloudflare's)
REDACTED_HEADERS = ("authorization", "cookie")
# Static copy of switchboard.api.MAX_BODY_BYTES (infra must not import the Lambda layer at synth);
# tests/infra/test_edge_waf.py proves the two are equal.
MAX_BODY_BYTES = 64 * 1024
# WAF inspects the first 8 KB of a body behind API Gateway unless the web ACL raises it (16/32/48/64 KB; above
# 16 KB costs extra): at 64 KB every body the API accepts is inspected whole and a larger one is "oversize".
BODY_INSPECTION_LIMIT = "KB_64"
RATE_WINDOW_S = 300  # WAF rate rules count over this window
WAF_REGEX_MAX = 512  # the longest RegexString WAF accepts
# The drift job (R47) metrics; static copies of switchboard.logic.edge_drift's names (a test proves them equal).
DRIFT_JOB = "edge_drift_job"
DRIFT_METRIC = "CloudflareRangesDrift"
DRIFT_CHECK_FAILED_METRIC = "CloudflareRangesCheckFailed"
PEPPERS_SECRET = "Peppers"  # noqa: S105 - the catalog id of the pepper secret, not a value


def _receivers() -> list[catalog.Function]:
    """Signed webhook receivers (carrier and billing events): every route public and at least one POST (the
    console's pages are public too, but people post them from browsers: they keep the per-client limit)."""
    return [
        fn
        for fn in catalog.FUNCTIONS
        if fn.routes
        and all(r.auth is catalog.Auth.PUBLIC and not catalog.in_console(r.path) for r in fn.routes)
        and any(r.method == "POST" for r in fn.routes)
    ]


def callback_routes() -> list[catalog.Route]:
    """Routes that providers call back (carrier receipts and inbound messages, billing events): signature-checked
    first, sent in bursts from a few provider addresses, so they are exempt from the per-client API limit."""
    return [route for fn in _receivers() for route in fn.routes]


def credential_routes() -> list[catalog.Route]:
    """Routes where a caller proves a password, one-time token or TOTP code (login, signup, resets, e-mail
    verification, invitations, restore, reauth, password and MFA changes, API-key issuance): every non-GET route of
    the functions that hold the password pepper, the only ones able to check such a secret."""
    return [
        route
        for fn in catalog.FUNCTIONS
        if PEPPERS_SECRET in fn.secrets
        for route in fn.routes
        # Operator routes check no customer secret (IAM signs them) and are not on the customer API.
        if route.method != "GET" and route.auth is not catalog.Auth.OPERATOR
    ]


# The console's sign-in and account-recovery forms (switchboard.console.pages.auth; tests/infra/test_edge_waf.py
# proves the list): a browser posts them from its own address, so here, in front of the console, they get the
# credential routes' strict per-client limit. Behind the console the API sees the console's address instead
# (docs/console.md, "Known limitations").
CONSOLE_CREDENTIAL_PAGES = (
    "/console/accept-invitation",
    "/console/account/restore",
    "/console/login",
    "/console/reauth",
    "/console/reset-password",
    "/console/reset-password/confirm",
    "/console/signup",
    "/console/verify-email",
)


def console_credential_routes() -> list[catalog.Route]:
    """The console's credential forms as routes (each a concrete path under the catalog's `/console/{proxy+}`)."""
    return [
        catalog.Route("POST", path, catalog.Auth.PUBLIC, "A console credential form", permission=None)
        for path in CONSOLE_CREDENTIAL_PAGES
    ]


def path_regex(routes: Iterable[catalog.Route]) -> str:
    """An anchored regex matching exactly these routes' paths (a `{param}` matches one segment, a trailing slash is
    tolerated as API Gateway tolerates it)."""
    templates = sorted({route.path for route in routes})
    alternatives = [
        "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/")) for path in templates
    ]
    pattern = f"^({'|'.join(alternatives)})/?$"
    if len(pattern) > WAF_REGEX_MAX:
        raise ValueError(f"{len(pattern)}-character path regex exceeds WAF's {WAF_REGEX_MAX}: split the rule")
    return pattern


def cloudflare_ranges() -> list[str]:
    """Cloudflare's published IPv4 and IPv6 ranges (the allowlist of the resource policy)."""
    data = json.loads(CLOUDFLARE_IPS_FILE.read_text())
    return [*data["ipv4"], *data["ipv6"]]


def cloudflare_only_policy() -> iam.PolicyDocument:
    """R47: allow invoking the API, then deny every source address outside Cloudflare."""
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="AllowInvoke",
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
            ),
            iam.PolicyStatement(
                sid="DenyOutsideCloudflare",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
                conditions={"NotIpAddress": {"aws:SourceIp": cloudflare_ranges()}},
            ),
        ]
    )


class CustomDomain(Construct):
    """Regional custom domain: ACM certificate (DNS validation), TLS_1_2, mutual TLS with our AOP CA only; Cloudflare's
    proxied CNAME points at `domain.domain_name_alias_domain_name`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_name: str,
        truststore_bucket: str,
        truststore_key: str,
        truststore_version: str,
        stage: apigw.Stage,
    ) -> None:
        super().__init__(scope, construct_id)
        certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=domain_name,
            # No hosted zone: ACM prints the CNAME, which goes into the Cloudflare zone as DNS-only (README).
            validation=acm.CertificateValidation.from_dns(),
        )
        # Enhanced (TLS 1.3) policies cannot be combined with mutual TLS; clients get TLS 1.3 at Cloudflare (R44).
        self.domain = apigw.DomainName(
            self,
            "Domain",
            domain_name=domain_name,
            certificate=certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
            mtls=apigw.MTLSConfig(
                bucket=s3.Bucket.from_bucket_name(self, "Truststore", truststore_bucket),
                key=truststore_key,
                version=truststore_version,
            ),
        )
        self.domain.add_base_path_mapping(stage.rest_api, stage=stage)


def _rate_rule(name: str, priority: int, limit: int, scope_down: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "action": {"block": {}},
        "statement": {
            "rateBasedStatement": {
                "limit": limit,
                "evaluationWindowSec": RATE_WINDOW_S,
                "aggregateKeyType": "FORWARDED_IP",
                # A request without the header did not come through Cloudflare: count it against the limit (MATCH).
                "forwardedIpConfig": {"headerName": CLIENT_IP_HEADER, "fallbackBehavior": "MATCH"},
                "scopeDownStatement": scope_down,
            }
        },
        "visibilityConfig": _visibility(name),
    }


def _managed_rule(
    name: str, priority: int, *, count: tuple[str, ...] = (), scope_down: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"vendorName": "AWS", "name": name}
    if count:
        statement["ruleActionOverrides"] = [{"name": rule, "actionToUse": {"count": {}}} for rule in count]
    if scope_down:
        statement["scopeDownStatement"] = scope_down
    return {
        "name": name,
        "priority": priority,
        "overrideAction": {"none": {}},
        "statement": {"managedRuleGroupStatement": statement},
        "visibilityConfig": _visibility(name),
    }


def _visibility(name: str) -> dict[str, Any]:
    return {"cloudWatchMetricsEnabled": True, "metricName": name, "sampledRequestsEnabled": True}


def _path_matches(routes: Iterable[catalog.Route]) -> dict[str, Any]:
    # Decoded and normalized first, so /v1//sessions or /v1/%73essions cannot slip past the pattern.
    return {
        "regexMatchStatement": {
            "fieldToMatch": {"uriPath": {}},
            "regexString": path_regex(routes),
            "textTransformations": [{"priority": 0, "type": "URL_DECODE"}, {"priority": 1, "type": "NORMALIZE_PATH"}],
        }
    }


def _method_is(method: str) -> dict[str, Any]:
    return {
        "byteMatchStatement": {
            "fieldToMatch": {"method": {}},
            "positionalConstraint": "EXACTLY",
            "searchString": method,
            "textTransformations": [{"priority": 0, "type": "NONE"}],
        }
    }


def _any_of(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return statements[0] if len(statements) == 1 else {"orStatement": {"statements": statements}}


def routes_statement(routes: Iterable[catalog.Route]) -> dict[str, Any]:
    """A WAF statement matching exactly these routes (method and path)."""
    by_method: dict[str, list[catalog.Route]] = {}
    for route in routes:
        by_method.setdefault(route.method, []).append(route)
    return _any_of(
        [
            {"andStatement": {"statements": [_method_is(method), _path_matches(group)]}}
            for method, group in sorted(by_method.items())
        ]
    )


def upload_routes() -> list[catalog.Route]:
    """Routes whose body may be a file's raw bytes (catalog.RAW_BODIES): larger than the JSON limit, and binary."""
    return [route for route, _ in catalog.routes() if (route.method, route.path) in catalog.RAW_BODIES]


def _not_uploads() -> dict[str, Any] | None:
    uploads = upload_routes()
    return {"notStatement": {"statement": routes_statement(uploads)}} if uploads else None


def _body_too_large(priority: int) -> dict[str, Any]:
    # The API answers 413 above MAX_BODY_BYTES anyway; blocking here keeps such bodies away from every function.
    # A body beyond the inspection limit is "oversize" and matches, so nothing larger slips through uninspected.
    # File uploads are the exception: their function bounds their size itself (switchboard.api.BinaryBody).
    size: dict[str, Any] = {
        "sizeConstraintStatement": {
            "fieldToMatch": {"body": {"oversizeHandling": "MATCH"}},
            "comparisonOperator": "GT",
            "size": MAX_BODY_BYTES,
            "textTransformations": [{"priority": 0, "type": "NONE"}],
        }
    }
    not_uploads = _not_uploads()
    return {
        "name": "BodyLargerThanApiLimit",
        "priority": priority,
        "action": {"block": {}},
        "statement": {"andStatement": {"statements": [size, not_uploads]}} if not_uploads else size,
        "visibilityConfig": _visibility("BodyLargerThanApiLimit"),
    }


def web_acl_rules(
    *, rate_limit_per_ip: int, auth_rate_limit_per_ip: int, callback_rate_limit_per_ip: int
) -> list[dict[str, Any]]:
    """R49: managed rules (the common set's 8 KB body rule only counts: our own body rule enforces the API's real
    limit), then per-client rate rules by route class: credential routes strict, provider callbacks their own high
    limit, everything else a limit above any plan's rate."""
    callbacks = routes_statement(callback_routes())
    return [
        # A file's bytes are never read as text (sniffed, then sealed): the set's body rules (XSS, LFI, RFI) would
        # refuse a PDF that mentions a URL or a script, so uploads are left out of it.
        _managed_rule("AWSManagedRulesCommonRuleSet", 0, count=("SizeRestrictions_BODY",), scope_down=_not_uploads()),
        _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 1),
        _body_too_large(2),
        _rate_rule(
            "CredentialRatePerClientIp",
            3,
            auth_rate_limit_per_ip,
            routes_statement([*credential_routes(), *console_credential_routes()]),
        ),
        _rate_rule("CallbackRatePerClientIp", 4, callback_rate_limit_per_ip, callbacks),
        _rate_rule("RatePerClientIp", 5, rate_limit_per_ip, {"notStatement": {"statement": callbacks}}),
    ]


class Firewall(Construct):
    """R49: regional WAFv2 web ACL, logging with Authorization and Cookie redacted; each API (customer and operator)
    associates its own stage with `web_acl`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage_name: str,
        rate_limit_per_ip: int,
        auth_rate_limit_per_ip: int,
        callback_rate_limit_per_ip: int,
        logs_key: kms.IKey,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action={"allow": {}},
            visibility_config=_visibility("SwitchboardApi"),
            association_config={"requestBody": {"API_GATEWAY": {"defaultSizeInspectionLimit": BODY_INSPECTION_LIMIT}}},
            rules=web_acl_rules(
                rate_limit_per_ip=rate_limit_per_ip,
                auth_rate_limit_per_ip=auth_rate_limit_per_ip,
                callback_rate_limit_per_ip=callback_rate_limit_per_ip,
            ),
        )
        # WAF only logs to groups whose name starts with aws-waf-logs- (the one physical name we set).
        log_name = f"aws-waf-logs-switchboard-{stage_name}"
        self.log_group = encrypted_log_group(
            self, "Logs", key=logs_key, retention_days=log_retention_days, name=log_name
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[{"singleHeader": {"Name": header}} for header in REDACTED_HEADERS],
        )
        logging.node.add_dependency(self.log_group)


def drift_alarms(scope: Construct, *, action: actions.SnsAction) -> None:
    """R47/R57: alarm when the drift job finds Cloudflare's published ranges differ from the deployed list, and
    when it could not check (timeout, bad answer)."""
    for metric_name, description in (
        (DRIFT_METRIC, "Cloudflare's published IP ranges differ from infra's list: update it and deploy (runbook)"),
        (DRIFT_CHECK_FAILED_METRIC, "The Cloudflare IP drift check could not fetch or read the published ranges"),
    ):
        alarm = cloudwatch.Alarm(
            scope,
            metric_name,
            alarm_description=describe(description + ".", "drift"),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"service": DRIFT_JOB},
                statistic="Maximum",
                period=Duration.hours(1),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)

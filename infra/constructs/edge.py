"""The edge of the API: Cloudflare-only resource policy, custom domain (TLS 1.2 + mTLS) and the WAF web ACL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.constructs.log_group import encrypted_log_group

CLOUDFLARE_IPS_FILE = Path(__file__).resolve().parent.parent / "cloudflare_ips.json"
CLIENT_IP_HEADER = "CF-Connecting-IP"  # R48: the only client address we trust (R45-R47 make it Cloudflare's)
# Paths whose methods get the stricter stage throttle and WAF rate rule (credential stuffing, sign-up abuse).
AUTH_PATH_PREFIXES = ("/v1/sessions", "/v1/signup", "/v1/password-resets", "/v1/verifications", "/v1/invitations")
REDACTED_HEADERS = ("authorization", "cookie")


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
    """Regional custom domain: ACM certificate (DNS validation), TLS_1_2, mutual TLS with our AOP CA only."""

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
        CfnOutput(
            self,
            "RegionalDomainName",
            description="Target of the proxied Cloudflare CNAME for the API hostname",
            value=self.domain.domain_name_alias_domain_name,
        )


def _rate_rule(name: str, priority: int, limit: int, scope_down: dict[str, Any] | None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "limit": limit,
        "evaluationWindowSec": 300,
        "aggregateKeyType": "FORWARDED_IP",
        # A request without the header did not come through Cloudflare: count it against the limit (MATCH).
        "forwardedIpConfig": {"headerName": CLIENT_IP_HEADER, "fallbackBehavior": "MATCH"},
    }
    if scope_down is not None:
        statement["scopeDownStatement"] = scope_down
    return {
        "name": name,
        "priority": priority,
        "action": {"block": {}},
        "statement": {"rateBasedStatement": statement},
        "visibilityConfig": _visibility(name),
    }


def _managed_rule(name: str, priority: int) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "overrideAction": {"none": {}},
        "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": name}},
        "visibilityConfig": _visibility(name),
    }


def _visibility(name: str) -> dict[str, Any]:
    return {"cloudWatchMetricsEnabled": True, "metricName": name, "sampledRequestsEnabled": True}


def _starts_with(prefix: str) -> dict[str, Any]:
    return {
        "byteMatchStatement": {
            "fieldToMatch": {"uriPath": {}},
            "positionalConstraint": "STARTS_WITH",
            "searchString": prefix,
            "textTransformations": [{"priority": 0, "type": "NONE"}],
        }
    }


class Firewall(Construct):
    """R49: regional WAFv2 web ACL on the stage, logging with Authorization and Cookie redacted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigw.Stage,
        stage_name: str,
        rate_limit_per_ip: int,
        auth_rate_limit_per_ip: int,
        logs_key: kms.IKey,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        auth_paths = [_starts_with(prefix) for prefix in AUTH_PATH_PREFIXES]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action={"allow": {}},
            visibility_config=_visibility("SwitchboardApi"),
            rules=[
                _managed_rule("AWSManagedRulesCommonRuleSet", 0),
                _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 1),
                _rate_rule("RatePerClientIp", 2, rate_limit_per_ip, None),
                _rate_rule(
                    "AuthRatePerClientIp", 3, auth_rate_limit_per_ip, {"orStatement": {"statements": auth_paths}}
                ),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
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

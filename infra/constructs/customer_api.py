"""The customer API in a nested stack of the API stack: its RestApi, custom domain and web ACL association."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, NestedStack, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import TRUSTSTORE_KEY, StageConfig
from infra.constructs.edge import CustomDomain
from infra.constructs.rest_api import RestApi
from switchboard import catalog


class CustomerApi(NestedStack):
    """`rest` (every catalog route, its 405 catch-all, the authorizer), `links` and `console` (the media links' and
    the console's own RestApis, mapped at catalog.LINKS_PREFIX and CONSOLE_PREFIX), `domain` (mTLS), `firewall`,
    `links_firewall` and `console_firewall` (the stages' associations with
    the API stack's web ACL) and API Gateway's permission to invoke each function's `live` alias.

    Its own template: the API stack keeps the functions, their aliases and CodeDeploy groups, and stays far below
    CloudFormation's 500 resources as the catalog grows (tests/infra/test_nested_stacks.py). No resource of the API
    stack reads this stack's outputs (the stack's own outputs do): it depends on the `live` aliases, they on their
    CodeDeploy groups and those on the alarms, so an alarm reading it would close a cycle. Hence the web ACL, which an
    alarm watches, stays in the API stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, lambda_.IFunction],
        logs_key: kms.IKey,
        truststore_bucket: str,
        truststore_version: str,
        web_acl_arn: str,
    ) -> None:
        super().__init__(scope, construct_id, description=f"Switchboard {config.name} customer API and its domain")

        def rest_api(construct_id: str, **flavour: Any) -> RestApi:
            """A RestApi of this domain, logged, retained and throttled as the stage says."""
            return RestApi(
                self,
                construct_id,
                stage=config.name,
                logs_key=logs_key,
                log_retention_days=config.log_retention_days,
                throttle_rate_limit=config.throttle_rate_limit,
                throttle_burst_limit=config.throttle_burst_limit,
                **flavour,
            )

        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.rest = rest_api("Rest", logs_role_removal_policy=removal)
        # The media links' and the console's own RestApis (catalog.LINKS_PREFIX, CONSOLE_PREFIX): binaryMediaTypes
        # `*/*`, mapped below the same domain.
        self.links = rest_api("Links", serves=catalog.Api.LINKS)
        self.console = rest_api("Console", serves=catalog.Api.CONSOLE)
        # Their stages write execution logs through the account's CloudWatch role, which the customer API brings.
        account = self.rest.api.node.try_find_child("Account")
        if account is None:
            raise ValueError("the customer API no longer brings the account's CloudWatch role")
        self.links.stage.node.add_dependency(account)
        self.console.stage.node.add_dependency(account)
        served = {fn.name for _, fn in catalog.routes()} | {catalog.authorizer().name}
        # Each `live` alias as this template sees it (its ARN, a parameter from the parent): the invoke permissions
        # that RestApi and the authorizer add are then written here, beside the API their source ARNs name.
        live = {
            name: lambda_.Function.from_function_attributes(
                self, f"{_pascal(name)}Live", function_arn=functions[name].function_arn, same_environment=True
            )
            for name in sorted(served)
        }
        # API Gateway invokes the `live` aliases (CodeDeploy shifts them), never $LATEST.
        self.rest.use_authorizer(live[catalog.authorizer().name])
        self.methods: dict[tuple[str, str], apigw.Method] = {
            (route.method, route.path): self._api_of(route.path).add_route(route, live[fn.name])
            for route, fn in catalog.routes()
        }
        # R40: every other method of a route's path is a 405 with Allow, not API Gateway's 404.
        allowed: dict[str, set[str]] = {}
        for route, _ in catalog.routes():
            allowed.setdefault(route.path, set()).add(route.method)
        self.method_not_allowed = {
            path: self._api_of(path).add_method_not_allowed(path, methods) for path, methods in allowed.items()
        }
        self.domain = CustomDomain(
            self,
            "Domain",
            domain_name=config.domain_name,
            truststore_bucket=truststore_bucket,
            truststore_key=TRUSTSTORE_KEY,
            truststore_version=truststore_version,
            stage=self.rest.stage,
        )
        # The longest matching mapping wins: /v1/media/... reaches the links API, /console... the console's,
        # everything else the customer API.
        self.domain.domain.add_api_mapping(self.links.stage, base_path=catalog.mapping_of(catalog.Api.LINKS))
        self.domain.domain.add_api_mapping(self.console.stage, base_path=catalog.mapping_of(catalog.Api.CONSOLE))
        # Both stages behind the API stack's web ACL (the operator API's is associated the same way).
        self.firewall = wafv2.CfnWebACLAssociation(
            self, "Firewall", resource_arn=self.rest.stage.stage_arn, web_acl_arn=web_acl_arn
        )
        self.links_firewall = wafv2.CfnWebACLAssociation(
            self, "LinksFirewall", resource_arn=self.links.stage.stage_arn, web_acl_arn=web_acl_arn
        )
        self.console_firewall = wafv2.CfnWebACLAssociation(
            self, "ConsoleFirewall", resource_arn=self.console.stage.stage_arn, web_acl_arn=web_acl_arn
        )
        # In the API stack's own outputs (a nested stack's are not shown): `make edge` and the runbook read it.
        CfnOutput(
            scope,
            "RegionalDomainName",
            description="Target of the proxied Cloudflare CNAME for the API hostname",
            value=self.domain.domain.domain_name_alias_domain_name,
        )

    def _api_of(self, path: str) -> RestApi:
        return {catalog.Api.LINKS: self.links, catalog.Api.CONSOLE: self.console}.get(catalog.api_of(path), self.rest)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))

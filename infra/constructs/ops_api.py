"""The operator API (R34, R18): its own RestApi, every method AWS_IAM, callable only by the MFA operator roles."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, NestedStack, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.constructs.rest_api import ACCESS_LOG_FIELDS, STAGE_NAME, OperatorApi, RestApi
from infra.gateway_errors import GATEWAY_ERRORS, GatewayError
from switchboard import catalog, operators

MAX_SESSION = Duration.hours(1)  # an operator's assumed-role session (R20: operators' sessions are the shortest)
# Who signed each request, in the access log: the assumed role and the operator's session name.
OPS_ACCESS_LOG_FIELDS = {
    **ACCESS_LOG_FIELDS,
    "userArn": "$context.identity.userArn",
    "caller": "$context.identity.caller",
    "accessKey": "$context.identity.accessKey",
}
_FORBIDDEN = (403, "forbidden", "Forbidden", "Sign the request as an operator role (SigV4, with MFA).")
# IAM auth refuses with these types; on this API each is a 403 (as the local gateway answers), never a 401 that
# would suggest a customer credential could help.
_IAM_REFUSALS = ("MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "EXPIRED_TOKEN", "ACCESS_DENIED")
OPS_GATEWAY_ERRORS: tuple[GatewayError, ...] = tuple(
    GatewayError(e.response_type, *_FORBIDDEN) if e.response_type in _IAM_REFUSALS else e for e in GATEWAY_ERRORS
)
_PARAMETER = re.compile(r"\{[^}]+\}")


def resource_path(route: catalog.Route) -> str:
    """The route's path as an execute-api ARN's resource part: each `{parameter}` any one value."""
    return _PARAMETER.sub("*", route.path)


class OpsApi(NestedStack):
    """`OpsApi` (regional, stage `live`), the two operator roles, and the permission to invoke each function.

    Its own template (a nested stack of the API stack): the customer API's resources stay exactly as they were.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        functions: Mapping[str, lambda_.IFunction],
        logs_key: kms.IKey,
        log_retention_days: int,
        throttle_rate_limit: int,
        throttle_burst_limit: int,
        web_acl_arn: str,
    ) -> None:
        super().__init__(scope, construct_id, description=f"Switchboard {stage} operator API and roles")
        account = Stack.of(self).account
        self.role_arns = {
            role: f"arn:{Stack.of(self).partition}:iam::{account}:role/{operators.role_name(stage, role)}"
            for role in operators.OperatorRole
        }
        self.rest = RestApi(
            self,
            "Rest",
            stage=stage,
            logs_key=logs_key,
            log_retention_days=log_retention_days,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
            operator=OperatorApi(
                description=f"Switchboard {stage} operator API (IAM auth, operator roles with MFA only)",
                policy=self._resource_policy(),
                access_log_fields=OPS_ACCESS_LOG_FIELDS,
                gateway_errors=OPS_GATEWAY_ERRORS,
            ),
        )
        # Its execute-api hostname is its own (never the customer API's): every method needs a SigV4 signature by
        # an operator role, which only an MFA session can assume (docs/operators.md).
        self.api = self.rest.api
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for route, spec in catalog.operator_routes():
            self.methods[(route.method, route.path)] = self.rest.add_route(route, functions[spec.name])
        self.roles = {role: self._role(stage, role) for role in operators.OperatorRole}
        self.firewall = wafv2.CfnWebACLAssociation(
            self, "Firewall", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=web_acl_arn
        )
        # In the API stack's own outputs (a nested stack's are not shown): `switchboard-ops --aws --endpoint <it>`.
        CfnOutput(scope, "OpsApiUrl", description="The operator API (switchboard-ops --endpoint)", value=self.api.url)

    def _resource_policy(self) -> iam.PolicyDocument:
        """Each operator role on its own routes only, and an explicit Deny for every other principal.

        Same-account IAM auth admits a request that either the identity or the resource policy allows: an Allow
        here on every route would let support reach security's routes whatever its own policy says.
        """
        arns = sorted(self.role_arns.values())
        allows = [
            iam.PolicyStatement(
                sid=f"Allow{role.value.capitalize()}Routes",
                principals=[iam.ArnPrincipal(self.role_arns[role])],
                actions=["execute-api:Invoke"],
                resources=[f"execute-api:/{STAGE_NAME}/{r.method}{resource_path(r)}" for r in routes_of(role)],
            )
            for role in operators.OperatorRole
        ]
        refusals = [
            iam.PolicyStatement(
                sid=f"Deny{role.value.capitalize()}OtherRoutes",
                effect=iam.Effect.DENY,
                principals=[iam.ArnPrincipal(self.role_arns[role])],
                actions=["execute-api:Invoke"],
                resources=[f"execute-api:/{STAGE_NAME}/{r.method}{resource_path(r)}" for r in refused_routes(role)],
            )
            for role in operators.OperatorRole
            if refused_routes(role)
        ]
        deny = iam.PolicyStatement(
            sid="DenyEveryoneElse",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["execute-api:Invoke"],
            resources=["execute-api:/*"],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": arns}},
        )
        return iam.PolicyDocument(statements=[*allows, *refusals, deny])

    def _role(self, stage: str, role: operators.OperatorRole) -> iam.Role:
        """An operator role: assumable in this account only with MFA, for at most an hour, invoking only the
        operator routes whose permission the role holds (R31: support cannot even reach security's routes)."""
        operator_role = iam.Role(
            self,
            f"Operator{role.value.capitalize()}",
            role_name=operators.role_name(stage, role),
            description=f"Switchboard {stage} operators ({role.value}): the operator API only, with MFA",
            assumed_by=iam.AccountRootPrincipal().with_conditions({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
            max_session_duration=MAX_SESSION,
        )
        routes = routes_of(role)
        operator_role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeOperatorRoutes",
                actions=["execute-api:Invoke"],
                resources=[
                    self.api.arn_for_execute_api(method=r.method, path=resource_path(r), stage=STAGE_NAME)
                    for r in routes
                ],
            )
        )
        refused = refused_routes(role)
        if refused:
            # `*` in an execute-api ARN also spans `/`: a route of another role under one of this role's paths
            # (GET …/accounts/{id}/x under GET …/accounts/{id}) would be allowed without an explicit Deny.
            operator_role.add_to_policy(
                iam.PolicyStatement(
                    sid="DenyOtherOperatorRoutes",
                    effect=iam.Effect.DENY,
                    actions=["execute-api:Invoke"],
                    resources=[
                        self.api.arn_for_execute_api(method=r.method, path=resource_path(r), stage=STAGE_NAME)
                        for r in refused
                    ],
                )
            )
        return operator_role


def routes_of(role: operators.OperatorRole) -> list[catalog.Route]:
    """The operator routes whose permission the role holds (R31's table, switchboard.operators)."""
    return [r for r, _ in catalog.operator_routes() if operators.allows(role, _permission(r))]


def refused_routes(role: operators.OperatorRole) -> list[catalog.Route]:
    """The operator routes the role lacks, each denied explicitly, unless its ARN pattern would also match one of
    the role's own routes (then the role's Allow, listing its own routes only, is what keeps it out)."""
    own = [f"{r.method}{_PARAMETER.sub('x', r.path)}" for r in routes_of(role)]
    return [
        r
        for r, _ in catalog.operator_routes()
        if not operators.allows(role, _permission(r))
        and not any(fnmatch.fnmatchcase(sample, f"{r.method}{resource_path(r)}") for sample in own)
    ]


def _permission(route: catalog.Route) -> operators.OperatorPermission:
    if not isinstance(route.permission, operators.OperatorPermission):
        raise TypeError(f"{route.method} {route.path}: an operator route without an operator permission")
    return route.permission

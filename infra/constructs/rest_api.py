"""The REST API: Cloudflare-only policy, validation, problem+json gateway responses, logged and throttled stage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import request_models
from infra.constructs.edge import cloudflare_only_policy
from infra.constructs.log_group import encrypted_log_group
from infra.gateway_errors import GATEWAY_ERRORS, METHOD_NOT_ALLOWED, GatewayError
from switchboard import catalog, files
from switchboard.headers import PROBLEM_CONTENT_TYPE, SECURITY_HEADERS

STAGE_NAME = "live"
# The id of the permission that lets each API invoke a function (kept as deployed: a new id replaces the permission).
_INVOKE_PERMISSION_IDS = {
    catalog.Api.CUSTOMER: "RestApiInvoke",
    catalog.Api.LINKS: "LinksApiInvoke",
    catalog.Api.CONSOLE: "ConsoleApiInvoke",
}
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "sourceIp": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "authorizerError": "$context.authorizer.error",
}


@dataclass(frozen=True)
class OperatorApi:
    """What makes a RestApi the operator API (infra/constructs/ops_api.py): its policy, logs and refusals."""

    description: str
    policy: iam.PolicyDocument
    access_log_fields: Mapping[str, str]
    gateway_errors: tuple[GatewayError, ...]


class RestApi(Construct):
    """`api` (regional, default endpoint disabled; the operator API: `operator=`) with stage `live`; add routes with
    `add_route` (operator routes: AWS_IAM)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        logs_key: kms.IKey,
        log_retention_days: int,
        throttle_rate_limit: int,
        throttle_burst_limit: int,
        logs_role_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        operator: OperatorApi | None = None,
        serves: catalog.Api = catalog.Api.CUSTOMER,
    ) -> None:
        super().__init__(scope, construct_id)
        if operator and serves is not catalog.Api.CUSTOMER:
            raise ValueError("the operator API serves no media links and no console")
        self.serves = serves
        links, console = serves is catalog.Api.LINKS, serves is catalog.Api.CONSOLE
        customer = operator is None and serves is catalog.Api.CUSTOMER
        access_logs = encrypted_log_group(self, "AccessLogs", key=logs_key, retention_days=log_retention_days)
        self.invoke_permission_id = "OpsApiInvoke" if operator else _INVOKE_PERMISSION_IDS[serves]
        if operator:
            name, description, binary = f"switchboard-{stage}-ops", operator.description, None
        elif links:
            name, description = f"switchboard-{stage}-media", f"Switchboard {stage} media links (docs/files.md)"
            binary = list(files.LINKS_BINARY_TYPES)
        elif console:
            name, description = f"switchboard-{stage}-console", f"Switchboard {stage} console (docs/console.md)"
            binary = list(files.binary_types(catalog.CONSOLE_PREFIX))
        else:
            name, description, binary = f"switchboard-{stage}", f"Switchboard {stage} API", list(files.API_BINARY_TYPES)
        self.api = apigw.RestApi(
            self,
            "Api",
            # Named: the ApiName dimension of its metrics (alarms, dashboard) is this name, unique in the account.
            rest_api_name=name,
            description=description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # R45: only the mTLS custom domain serves the customer, links and console APIs; the operator API is its
            # own hostname.
            disable_execute_api_endpoint=operator is None,
            policy=operator.policy if operator else cloudflare_only_policy(),
            binary_media_types=binary,
            # The account-level role API Gateway needs to write execution logs (a singleton per account/Region):
            # the customer API's brings it.
            cloud_watch_role=customer,
            cloud_watch_role_removal_policy=logs_role_removal_policy if customer else None,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(operator.access_log_fields if operator else ACCESS_LOG_FIELDS)
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # R53: never log request or response bodies
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                # No per-method throttle on credential routes: it would be one bucket for every client in the world
                # (one client could lock everyone out of login); the WAF limits them per client instead.
            ),
        )
        # API Gateway would create the execution log group itself, unencrypted and kept forever: own it instead.
        encrypted_log_group(
            self,
            "ExecutionLogs",
            key=logs_key,
            retention_days=log_retention_days,
            name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{STAGE_NAME}",
        )
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        headers = {name: f"'{value}'" for name, value in SECURITY_HEADERS.items()}
        headers["Content-Type"] = f"'{PROBLEM_CONTENT_TYPE}'"
        for error in operator.gateway_errors if operator else GATEWAY_ERRORS:
            body = error.body()
            self.api.add_gateway_response(
                error.response_type,
                type=apigw.ResponseType.of(error.response_type),
                status_code=str(error.status),
                response_headers=headers,
                templates={PROBLEM_CONTENT_TYPE: body, "application/json": body},
            )
        self.authorizer: apigw.RequestAuthorizer | None = None
        self._invokable: set[str] = set()  # node paths of the functions that already have their invoke permission
        self.models: dict[str, apigw.Model] = {}

    @property
    def stage(self) -> apigw.Stage:
        """The deployed stage (WAF association, base path mapping)."""
        return self.api.deployment_stage

    def use_authorizer(self, function: lambda_.IFunction) -> apigw.RequestAuthorizer:
        """The Lambda REQUEST authorizer of every non-public route: never cached, no identity sources (so it
        always runs and decides a missing credential itself)."""
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=function,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(catalog.AUTHORIZER_CACHE_TTL_S),
        )
        return self.authorizer

    def add_route(self, route: catalog.Route, function: lambda_.IFunction) -> apigw.Method:
        """A method on the route's resource, proxied to `function`; non-public routes go through the authorizer."""
        if route.auth is not catalog.Auth.OPERATOR and catalog.api_of(route.path) is not self.serves:
            raise ValueError(f"{route.method} {route.path} belongs to the {catalog.api_of(route.path)} API")
        resource = self.api.root.resource_for_path(catalog.api_resource(route.path))
        if route.auth is catalog.Auth.PUBLIC:
            authorization: dict[str, object] = {"authorization_type": apigw.AuthorizationType.NONE}
        elif route.auth is catalog.Auth.OPERATOR:
            # The operator API: SigV4 by an operator role (its resource policy names them), never the authorizer.
            authorization = {"authorization_type": apigw.AuthorizationType.IAM}
        else:
            if self.authorizer is None:
                raise ValueError(f"{route.method} {route.path} needs the authorizer, which the catalog lacks")
            authorization = {"authorization_type": apigw.AuthorizationType.CUSTOM, "authorizer": self.authorizer}
        if catalog.in_console(route.path):
            # The console's pages take HTML forms (urlencoded), which no JSON model describes: no model and no
            # validator; switchboard.console.web refuses a malformed form itself (4xx page, nothing done).
            return resource.add_method(route.method, self._integration(function), **authorization)  # type: ignore[arg-type]
        body = request_models.committed().get((route.method, route.path))
        if body is not None:
            # R36: the gateway refuses a JSON body its model (the handler's pydantic model, as draft 4) rejects.
            authorization["request_models"] = {request_models.JSON: self.request_model(body)}
        return resource.add_method(
            route.method,
            self._integration(function),
            request_validator=self.validator,
            **authorization,  # type: ignore[arg-type]
        )

    def add_method_not_allowed(self, path: str, methods: set[str]) -> apigw.Method:
        """`ANY` on a route's resource: API Gateway prefers the resource's named methods, so this catch-all answers
        only the others, with 405 problem+json and `Allow` (R40), from a MOCK integration (no function runs).

        Without it API Gateway answers an unknown method like an unknown path (404); the local gateway does the
        same as this (local/gateway.py `method_not_allowed`).
        """
        headers = {name: f"'{value}'" for name, value in SECURITY_HEADERS.items()}
        headers.update({"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'", "Allow": f"'{', '.join(sorted(methods))}'"})
        parameters = {f"method.response.header.{name}": value for name, value in headers.items()}
        body = METHOD_NOT_ALLOWED.body()
        integration = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 405}'},
            # Any media type reaches the mock (whose only answer is the 405), never a 415 first.
            passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_parameters=parameters,
                    response_templates={PROBLEM_CONTENT_TYPE: body, "application/json": body},
                )
            ],
        )
        return self.api.root.resource_for_path(catalog.api_resource(path)).add_method(
            "ANY",
            integration,
            authorization_type=apigw.AuthorizationType.NONE,
            method_responses=[
                apigw.MethodResponse(status_code="405", response_parameters=dict.fromkeys(parameters, True))
            ],
        )

    def _integration(self, function: lambda_.IFunction) -> apigw.Integration:
        """A Lambda proxy integration plus, once per function, the permission to invoke it from this stage.

        LambdaIntegration would add two permissions per method (stage + console test), so a function serving many
        routes nears Lambda's 20 KB resource-policy limit; one permission on `<api>/live/*/*` stays far below it.
        """
        if function.node.path not in self._invokable:
            self._invokable.add(function.node.path)
            function.add_permission(
                self.invoke_permission_id,
                principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                action="lambda:InvokeFunction",
                source_arn=self.api.arn_for_execute_api(method="*", path="/*", stage=STAGE_NAME),
            )
        return apigw.AwsIntegration(
            service="lambda", proxy=True, path=f"2015-03-31/functions/{function.function_arn}/invocations"
        )

    def request_model(self, body: request_models.RequestModel) -> apigw.Model:
        """One `AWS::ApiGateway::Model` per distinct body model, shared by the methods that take it."""
        if body.name not in self.models:
            model = self.api.add_model(
                f"Model{body.name}",
                model_name=body.name,
                content_type=request_models.JSON,
                schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4),
            )
            # The generated schema as it is: JsonSchema's typed fields cannot carry every keyword (`not`, nesting).
            cfn = model.node.default_child
            if not isinstance(cfn, apigw.CfnModel):
                raise TypeError("apigateway.Model no longer wraps one CfnModel")
            cfn.add_property_override("Schema", body.schema)
            self.models[body.name] = model
        return self.models[body.name]

"""Every cdk-nag acknowledgement and its reason, in one place; docs/cdk-nag.md is rendered from the synth."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnParameter, Validations
from aws_cdk.custom_resources import AwsCustomResource
from constructs import IConstruct

from switchboard import catalog, operators

if TYPE_CHECKING:
    from infra.stacks.api_stack import ApiStack
    from infra.stacks.bootstrap_stack import BootstrapStack
    from infra.stacks.data_stack import DataStack

ACKNOWLEDGED_METADATA = "aws:cdk:acknowledged-rules"
DOC = Path(__file__).resolve().parent.parent / "docs" / "cdk-nag.md"


class Reason(StrEnum):
    """The reviewed reasons; each acknowledgement names its exact finding and one of these."""

    XRAY = (
        "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
        "permissions, so CDK's tracing grant must use Resource '*'; no other action of this policy uses '*'."
    )
    PUBLIC_ROUTE = (
        "Deliberately public route of the catalog's explicit allowlist (Auth.PUBLIC): it serves no tenant data; "
        "the API is still reachable only through Cloudflare (resource policy + mTLS), WAF and stage throttling."
    )
    CAPABILITY_LINK = (
        "Public by design: carriers fetch a file sent with a message without credentials of ours. The path's token "
        "is the credential: HMAC-SHA256 under a key derived from the account's data key, bound to one file, message "
        'and carrier, valid one hour, every failure the same 404 (docs/files.md "Links"); behind Cloudflare, WAF '
        "and stage throttling like every route."
    )
    LAMBDA_AUTHORIZER = (
        "We authenticate with a Lambda REQUEST authorizer (sessions and API keys, R22/R26), not Cognito; this "
        "route is public by design, so no authorizer of any kind applies."
    )
    AUTHORIZER_ROUTE = (
        "Guarded by our Lambda REQUEST authorizer (session tokens and API keys, results never cached, R22/R26), "
        "which this rule cannot recognise: it only accepts Cognito user-pool authorizers."
    )
    METHOD_NOT_ALLOWED = (
        "The catch-all ANY method of a route's resource: a MOCK integration that only answers 405 with Allow "
        "(R40); it reads no data and runs no function, so there is nothing to authorize."
    )
    MANUAL_ROTATION = "No automatic rotation possible; the manual procedure is documented"
    DLQ_ITSELF = (
        "This queue is itself a dead-letter queue: a redrive policy on it would only move failed messages to a "
        "third queue; it is alarmed at one message and redriven by hand after the cause is fixed."
    )
    UNDETECTED_DLQ = (
        "Used as a DLQ by an EventBridge target / Lambda on-failure destination / SNS subscription, which "
        "cdk-nag does not detect (it only sees SQS redrive policies)."
    )
    SYNC_FUNCTION = (
        "Invoked synchronously by API Gateway (Lambda proxy or REQUEST authorizer): the caller receives the "
        "error, a DLQ never applies."
    )
    JOB_DESTINATION = (
        "Asynchronous failures go to the on-failure destination (EventInvokeConfig -> encrypted SQS DLQ with an "
        "alarm), which supersedes the legacy DeadLetterConfig; EventBridge's own DLQ covers delivery failures."
    )
    QUEUE_CONSUMER = (
        "Invoked by an SQS event source mapping (ReportBatchItemFailures): a failed record stays on its queue and, "
        "after the queue's max_receive_count receives, its redrive policy moves it to the alarmed DLQ; on-failure "
        "destinations of event source mappings support streams and Kafka only, not SQS."
    )
    CUSTOM_RESOURCE = (
        "Invoked by CloudFormation for a custom resource: a failure is answered to CloudFormation and fails the "
        "deployment, which is the alert; a DLQ would hide nothing more."
    )
    BACKUP_MANAGED_POLICY = (
        "AWSBackupServiceRolePolicyForBackup is the AWS-maintained, least-privilege policy the Backup service "
        "role needs to snapshot DynamoDB tables; it follows new Backup features without our edits."
    )
    TRUSTSTORE_ACCESS_LOGS = (
        "The truststore bucket holds one public CA certificate, written only by its own stack's custom resource "
        "(CloudTrail records the writes) and read by API Gateway; server access logs would need a second bucket "
        "and would record nothing CloudTrail does not."
    )
    SDK_CUSTOM_RESOURCE_ROLE = (
        "CDK's AwsCustomResource provider: AWSLambdaBasicExecutionRole grants only CloudWatch Logs writes for its "
        "own log stream; its only other permission is s3:PutObject on the one truststore object."
    )
    DEPLOY_TIME_FUNCTION = (
        "CDK's AwsCustomResource provider runs one S3 PutObject per deployment, invoked by CloudFormation: the "
        "default 128 MB is enough and tracing would show nothing CloudFormation's events and CloudTrail do not."
    )
    ANCHORS_ACCESS_LOGS = (
        "The audit anchors bucket (R55) is written once per object (If-None-Match, denied otherwise by its policy) "
        "and locked in compliance mode: nothing in it can change. Server access logs would need a second bucket; "
        "the only writer (audit_anchor_job) logs every object it writes, and the verifier reads only."
    )
    ANCHOR_OBJECTS = (
        "Object keys are per account and per sequence number (anchors/<account>/<seq>, archive/<account>/<range>), "
        "unknown at deploy time: the grant is scoped to that one prefix of the one anchors bucket."
    )
    UNRESTORABLE_KEYS = (
        "R61 over R58: this table holds the per-account key-encryption keys that crypto-shredding deletes; a PITR "
        "(or AWS Backup) copy would bring a deleted KEK back and undo the shred, so it has neither by design. "
        "Durability: deletion protection, CMK, writes only put-once, deletes only by the purge job "
        "(docs/account-lifecycle.md)."
    )
    XRAY_AND_METRICS = (
        "Active tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and cloudwatch:GetMetricData (the status "
        "page's 5xx ratio and queue age): none of these actions supports resource-level permissions; every other "
        "action of this policy names its resources."
    )
    STATUS_PAGE_ACCESS_LOGS = (
        "The status page bucket holds only public content (component status, incident texts) rewritten every "
        "minute by one job whose runs are logged; reads come from Cloudflare, whose logs record them. Server access "
        "logs would need a second bucket and would record nothing of value."
    )
    FILES_LOG_BUCKET = (
        "This bucket receives the Files bucket's server access logs (S3-managed encryption, as log delivery "
        "requires; no customer bytes, only request records); logging it in turn would need yet another bucket."
    )
    FILE_OBJECTS = (
        "Object keys are per account and per file (files/<account>/<file>, incoming/<account>/<file>), unknown at "
        "deploy time: each grant is scoped to one prefix of the one Files bucket, ListBucketVersions to those prefixes."
    )
    APIGW_LOGS_ROLE = (
        "The account-level role API Gateway uses to write execution/access logs; AmazonAPIGatewayPushToCloudWatchLogs"
        " is AWS-maintained and grants only CloudWatch Logs actions (API Gateway names the log groups itself)."
    )
    DEPLOY_MANAGED_POLICY = (
        "AWSCodeDeployRoleForLambdaLimited is the AWS-maintained policy CodeDeploy's Lambda deployments need (get and "
        "update an alias, read its provisioned concurrency, describe the rollback alarms, publish to CodeDeployTopic_*"
        " topics); the role is assumable only by codedeploy.amazonaws.com."
    )
    CANARY_ROLE = (
        "CDK's Synthetics canary role: s3:ListAllMyBuckets and cloudwatch:PutMetricData (conditioned on the "
        "CloudWatchSynthetics namespace) support no resource-level permissions, the canary's log groups are named "
        "by Synthetics at run time (/aws/lambda/cwsyn-*), and artifacts go under the one bucket's objects."
    )
    CANARY_ARTIFACTS_LOGS = (
        "The canary's artifacts bucket holds only its own run logs (no customer data), written by the canary's role "
        "and expired after 14 days; server access logs would need a second bucket and record nothing of value."
    )
    CANARY_KEY_ROTATION = (
        "Holds an ordinary API key of the canary account, set by the operator: rotated like any API key (create a "
        "new key, put it in the secret, revoke the old one: docs/runbooks.md#alarm-canary); no rotation Lambda."
    )

    IAM_ROUTE = (
        "An operator API method: AWS_IAM authorization (SigV4 by an operator role that only an MFA session can "
        "assume, allowed by the API's resource policy alone), which this rule cannot recognise: it only accepts "
        "Cognito user-pool authorizers."
    )
    OPERATOR_ROUTE_PARAMETER = (
        "execute-api:Invoke on one operator route whose path has a parameter (an account id, unknown at deploy "
        "time): the wildcard stands for that one path segment of that one method of the operator API's stage."
    )


def _ack(scope: IConstruct, finding: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def _secret_reason(spec: catalog.Secret) -> str:
    return f"{Reason.MANUAL_ROTATION}: {spec.rotation}"


def acknowledge_all(data: DataStack, api: ApiStack) -> None:
    """Apply every acknowledgement of one stage (called once both stacks exist)."""
    seeder = data.secrets.seeder
    _ack(seeder.role, "AwsSolutions-IAM5[Resource::*]", Reason.XRAY)
    _ack(seeder.function, "Serverless-LambdaDLQ", Reason.CUSTOM_RESOURCE)
    for secret_id, secret in data.secrets.by_id.items():
        _ack(secret, "AwsSolutions-SMG4", _secret_reason(catalog.secret(secret_id)))
    for queue in data.queues.values():
        _ack(queue.dlq, "Serverless-SQSRedrivePolicy", Reason.DLQ_ITSELF)
    _ack(data.alarms.delivery_dlq, "Serverless-SQSRedrivePolicy", Reason.DLQ_ITSELF)
    _ack(data.alarms.delivery_dlq, "AwsSolutions-SQS3", Reason.UNDETECTED_DLQ)
    _acknowledge_unrestorable(data)
    _ack(
        data.backups.plan,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSBackupServiceRolePolicyForBackup]",
        Reason.BACKUP_MANAGED_POLICY,
    )

    customer = api.customer_api
    _ack(
        customer.rest.api,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        Reason.APIGW_LOGS_ROLE,
    )
    for spec in catalog.FUNCTIONS:
        function = api.functions[spec.name]
        reason = Reason.XRAY_AND_METRICS if spec.name == catalog.STATUS_PAGE_JOB else Reason.XRAY
        _ack(function.role, "AwsSolutions-IAM5[Resource::*]", reason)
        if spec.schedule is not None:
            _ack(function.function, "Serverless-LambdaDLQ", Reason.JOB_DESTINATION)
        elif spec.consumes is not None:
            _ack(function.function, "Serverless-LambdaDLQ", Reason.QUEUE_CONSUMER)
            _ack(function.function, "Serverless-LambdaEventSourceMappingDestination", Reason.QUEUE_CONSUMER)
        elif spec.routes or spec.name == catalog.AUTHORIZER:
            _ack(function.function, "Serverless-LambdaDLQ", Reason.SYNC_FUNCTION)
    _acknowledge_operations(api)
    for schedule in api.schedules.values():
        _ack(schedule.dlq, "Serverless-SQSRedrivePolicy", Reason.DLQ_ITSELF)
        _ack(schedule.dlq, "AwsSolutions-SQS3", Reason.UNDETECTED_DLQ)
    _acknowledge_anchors(data, api)
    _acknowledge_files(data, api)
    _ack(api.status_page.bucket, "AwsSolutions-S1", Reason.STATUS_PAGE_ACCESS_LOGS)
    for route, _ in catalog.routes():
        if route.auth is catalog.Auth.PUBLIC:
            method = customer.methods[(route.method, route.path)]
            # The links API's routes serve tenant data to the holder of a link we minted (the token is the credential).
            link = catalog.in_links_api(route.path)
            _ack(method, "AwsSolutions-APIG4", Reason.CAPABILITY_LINK if link else Reason.PUBLIC_ROUTE)
            _ack(method, "AwsSolutions-COG4", Reason.LAMBDA_AUTHORIZER)
        else:
            _ack(customer.methods[(route.method, route.path)], "AwsSolutions-COG4", Reason.AUTHORIZER_ROUTE)
    for catch_all in customer.method_not_allowed.values():
        _ack(catch_all, "AwsSolutions-APIG4", Reason.METHOD_NOT_ALLOWED)
        _ack(catch_all, "AwsSolutions-COG4", Reason.METHOD_NOT_ALLOWED)
    _acknowledge_ops_api(api)


def _acknowledge_ops_api(api: ApiStack) -> None:
    """The operator API's IAM-authorized methods and the operator roles' per-route grants (docs/operators.md)."""
    from infra.constructs.ops_api import resource_path  # noqa: PLC0415 - aws_cdk constructs, as ApiStack's
    from infra.constructs.rest_api import STAGE_NAME  # noqa: PLC0415

    ops = api.ops_api
    for method in ops.methods.values():
        _ack(method, "AwsSolutions-COG4", Reason.IAM_ROUTE)
    rest_api = ops.api.node.default_child
    if rest_api is None:
        raise TypeError("the operator API has no CfnRestApi")
    api_id = ops.resolve(ops.get_logical_id(rest_api))  # type: ignore[arg-type]
    prefix = f"arn:aws:execute-api:{api.region}:{api.account}:<{api_id}>/{STAGE_NAME}"
    for role, construct in ops.roles.items():
        for route, _ in catalog.operator_routes():
            path = resource_path(route)
            held = isinstance(route.permission, operators.OperatorPermission) and operators.allows(
                role, route.permission
            )
            if "*" in path and held:
                finding = f"AwsSolutions-IAM5[Resource::{prefix}/{route.method}{path}]"
                _ack(construct, finding, Reason.OPERATOR_ROUTE_PARAMETER)


def _acknowledge_operations(api: ApiStack) -> None:
    """The deploy role, the canary, and the event source mappings (children of the `live` aliases now)."""
    for spec in catalog.FUNCTIONS:
        function = api.functions.get(spec.name)
        if function is not None and function.alias is not None and spec.consumes is not None:
            _ack(function.alias, "Serverless-LambdaEventSourceMappingDestination", Reason.QUEUE_CONSUMER)
    if api.deployments:
        role = next(iter(api.deployments.values())).role
        _ack(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSCodeDeployRoleForLambdaLimited]",
            Reason.DEPLOY_MANAGED_POLICY,
        )
    monitoring = api.monitoring
    canary = monitoring.canary
    if canary.canary.role is not None:
        bucket = monitoring.resolve(monitoring.get_logical_id(canary.artifacts.node.default_child))  # type: ignore[arg-type]
        for resource in (
            "*",
            f"<{bucket}.Arn>/*",
            f"arn:aws:logs:{monitoring.region}:{monitoring.account}:log-group:/aws/lambda/cwsyn-*",
        ):
            _ack(canary.canary.role, f"AwsSolutions-IAM5[Resource::{resource}]", Reason.CANARY_ROLE)
        _ack(canary.canary.role, "Serverless-LambdaStarPermissions", Reason.CANARY_ROLE)
    _ack(canary.artifacts, "AwsSolutions-S1", Reason.CANARY_ARTIFACTS_LOGS)
    if canary.secret is not None:
        _ack(canary.secret, "AwsSolutions-SMG4", Reason.CANARY_KEY_ROTATION)


def _acknowledge_unrestorable(data: DataStack) -> None:
    for table_id, table in data.tables.by_id.items():
        if not catalog.table(table_id).restorable:
            _ack(table, "AwsSolutions-DDB3", Reason.UNRESTORABLE_KEYS)


def _acknowledge_anchors(data: DataStack, api: ApiStack) -> None:
    """The audit anchors bucket and its per-account object grants (their ARN is an SSM-resolved parameter)."""
    _ack(data.audit_anchors.bucket, "AwsSolutions-S1", Reason.ANCHORS_ACCESS_LOGS)
    bucket_parameter = next(
        child
        for child in api.node.children
        if isinstance(child, CfnParameter) and "bucket--audit-anchors" in child.node.id
    )
    bucket_arn = api.resolve(api.get_logical_id(bucket_parameter))
    for spec in catalog.FUNCTIONS:
        if spec.audit_anchors is not None:
            role = api.functions[spec.name].role
            prefixes = ("anchors", "archive") if spec.audit_anchors is catalog.Access.WRITE_ONCE else ("anchors",)
            for prefix in prefixes:
                _ack(role, f"AwsSolutions-IAM5[Resource::<{bucket_arn}>/{prefix}/*]", Reason.ANCHOR_OBJECTS)


def _acknowledge_files(data: DataStack, api: ApiStack) -> None:
    """The Files bucket's log bucket, and the per-prefix object grants (their ARN is an SSM-resolved parameter)."""
    for files in data.files.values():
        _ack(files.access_logs, "AwsSolutions-S1", Reason.FILES_LOG_BUCKET)
    for bucket in catalog.BUCKETS:
        parameter = next(
            child
            for child in api.node.children
            if isinstance(child, CfnParameter) and f"--bucket--{bucket.id.lower()}:" in child.node.id
        )
        bucket_arn = api.resolve(api.get_logical_id(parameter))
        for spec in catalog.FUNCTIONS:
            access = spec.buckets.get(bucket.id)
            if not access:
                continue
            prefixes = set()
            stored = {catalog.BucketAccess.READ, catalog.BucketAccess.WRITE, catalog.BucketAccess.DELETE}
            if access & stored:
                prefixes.add(bucket.stored_prefix)
            if access & {catalog.BucketAccess.STAGE, catalog.BucketAccess.CLEAR_STAGED}:
                prefixes.add(bucket.staging_prefix)
            role = api.functions[spec.name].role
            for prefix in sorted(prefixes):
                _ack(role, f"AwsSolutions-IAM5[Resource::<{bucket_arn}>/{prefix}/*]", Reason.FILE_OBJECTS)


def acknowledge_bootstrap(bootstrap: BootstrapStack) -> None:
    """The bootstrap stack's acknowledgements (truststore bucket and the custom resource that writes its object)."""
    _ack(bootstrap.bucket, "AwsSolutions-S1", Reason.TRUSTSTORE_ACCESS_LOGS)
    provider = bootstrap.node.find_child("AWS" + AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
    _ack(
        provider,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        Reason.SDK_CUSTOM_RESOURCE_ROLE,
    )
    _ack(provider, "Serverless-LambdaDLQ", Reason.CUSTOM_RESOURCE)
    _ack(provider, "Serverless-LambdaDefaultMemorySize", Reason.DEPLOY_TIME_FUNCTION)
    _ack(provider, "Serverless-LambdaTracing", Reason.DEPLOY_TIME_FUNCTION)


def acknowledged(metadata: Mapping[str, list[dict[str, object]]]) -> list[tuple[str, str, str]]:
    """(finding, construct path, reason) of every acknowledgement in a stack's `*.metadata.json`."""
    rows = []
    for path, entries in metadata.items():
        for entry in entries:
            if entry.get("type") != ACKNOWLEDGED_METADATA:
                continue
            rules = entry.get("data")
            if not isinstance(rules, dict):
                continue
            for rule, reason in rules.items():
                rows.append((str(rule).removeprefix("Annotation::"), path, str(reason)))
    return sorted(rows)


def render(rows: Iterable[tuple[str, str, str]], stage: str) -> str:
    """The markdown table of docs/cdk-nag.md."""
    lines = [
        "# cdk-nag acknowledgements",
        "",
        f"Generated from the `{stage}` synth by `python -m infra.nag` (tests/infra fails when it is stale). Packs:",
        "AwsSolutions and Serverless; any finding not listed here fails `make synth` and `make test`.",
        "",
        "| Finding | Resource | Reason |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{finding}` | `{path}` | {reason} |" for finding, path, reason in rows]
    return "\n".join(lines) + "\n"


def render_assembly(outdir: Path, stage: str) -> str:
    """docs/cdk-nag.md for the stage synthesized into `outdir`."""
    rows: list[tuple[str, str, str]] = []
    for metadata_file in sorted(outdir.glob(f"Switchboard-{stage}-*.metadata.json")):
        rows += acknowledged(json.loads(metadata_file.read_text()))
    return render(sorted(rows), stage)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("cdk.out")
    DOC.write_text(render_assembly(out, "dev"))
    print(f"wrote {DOC}")

"""The stage's alarms, dashboard and synthetic canary, in a nested stack of the API stack (docs/alarms.md)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import NestedStack, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs import alarms
from infra.constructs.canary import Canary
from infra.constructs.edge import DRIFT_JOB, drift_alarms
from infra.constructs.python_function import PythonFunction
from infra.constructs.rest_api import STAGE_NAME
from infra.environment import mail_configuration_set_name
from switchboard import catalog, signals


class Monitoring(NestedStack):
    """Every alarm of the stage into the alarm topic (`alarms`, and per function `function_alarms`), the dashboard
    and the canary. Its own template: a stage's alarms would otherwise take the API stack past CloudFormation's
    500 resources; the CodeDeploy groups that roll back on these alarms stay with the aliases they shift."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        domain_name: str,
        canary_send: bool,
        functions: Mapping[str, PythonFunction],
        api_name: str,
        queues: Mapping[str, sqs.IQueue],
        tables: Mapping[str, dynamodb.ITable],
        web_acl_ref: str,
        key: kms.IKey,
        action: actions.SnsAction,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id, description=f"Switchboard {stage}: alarms, dashboard and canary")
        self.canary = Canary(
            self,
            "Canary",
            stage=stage,
            base_url=f"https://{domain_name}",
            send=canary_send,
            key=key,
            action=action,
            removal_policy=removal_policy,
        )
        self.alarms: dict[str, cloudwatch.IAlarm] = {}
        if DRIFT_JOB in functions:
            drift_alarms(self, action=action)
        api = alarms.MetricsOf(api_name, STAGE_NAME)
        self.alarms.update(alarms.api_alarms(self, api=api, action=action))
        self.function_alarms = {
            name: self._function_alarms(catalog.function(name), function, action)
            for name, function in functions.items()
        }
        for queue_id, queue in queues.items():
            alarms.queue_alarms(self, queue_id, queue=queue, action=action)
        for table_id, table in tables.items():
            alarms.table_throttle_alarm(self, f"{table_id}TableThrottles", table_name=table.table_name, action=action)
        self.alarms["lambda-throttles"] = alarms.alarm(
            self,
            "LambdaThrottles",
            metric=lambda_.Function.metric_all_throttles(period=alarms.FIVE_MINUTES, statistic="Sum"),
            threshold=alarms.LAMBDA_THROTTLES,
            why=f"Lambda throttled {alarms.LAMBDA_THROTTLES} invocations in 5 minutes: the account's concurrency is "
            "exhausted (API answers 429/5xx, queues back up).",
            family="throttles",
            action=action,
        )
        self.alarms.update(alarms.stage_signal_alarms(self, stage=stage, action=action))
        self.alarms["waf"] = alarms.waf_alarm(self, web_acl_ref=web_acl_ref, region=self.region, action=action)
        for ses_alarm in alarms.ses_alarms(self, configuration_set=mail_configuration_set_name(stage), action=action):
            self.alarms[ses_alarm.node.id] = ses_alarm
        self.alarms["canary"] = self.canary.alarm
        self.dashboard = alarms.dashboard(
            self,
            name=f"switchboard-{stage}",
            api=api,
            authorizer_service=catalog.AUTHORIZER,
            queues=queues,
            stage=stage,
            alarms=[*self.alarms.values(), *(a.errors for a in self.function_alarms.values())],
        )

    def _function_alarms(
        self, spec: catalog.Function, function: PythonFunction, action: actions.SnsAction
    ) -> alarms.FunctionAlarms:
        """The function's error alarm (what an error means depends on what it is) and, behind `live`, latency."""
        pascal = "".join(part.capitalize() for part in spec.name.split("_"))
        errors = function.function.metric_errors(period=alarms.FIVE_MINUTES, statistic="Sum")
        if spec.name == catalog.AUTHORIZER:
            # Not Lambda's Errors: a refused credential is raised (API Gateway's 401) and counts there too.
            error_alarm = alarms.alarm(
                self,
                f"{pascal}Errors",
                metric=alarms.signal(signals.AUTHORIZER_INTERNAL_ERRORS, service=spec.name),
                threshold=1,
                why="The authorizer failed (not a refused credential): every authenticated route answers 500.",
                family="functions",
                action=action,
            )
        elif spec.routes:
            error_alarm = alarms.alarm(
                self,
                f"{pascal}Errors",
                metric=alarms.handler_error_metric(errors, spec.name),
                threshold=alarms.HANDLER_INTERNAL_ERRORS,
                why=f"{spec.name} answered {alarms.HANDLER_INTERNAL_ERRORS} internal errors (500) or crashed in 5 "
                "minutes: a bug or a failing dependency.",
                family="functions",
                action=action,
            )
        else:
            error_alarm = alarms.alarm_on_errors(
                self,
                f"{pascal}Errors",
                metric=errors,
                threshold=1,
                description=f"{spec.name} raised an error (a job: a failed run; a worker: a failed batch).",
                action=action,
            )
        latency = None
        if function.alias is not None:
            limit_ms = spec.timeout_s * 1000 * alarms.FUNCTION_P99_FRACTION
            latency = alarms.alarm(
                self,
                f"{pascal}LatencyP99",
                metric=function.function.metric_duration(period=alarms.FIVE_MINUTES, statistic="p99"),
                threshold=limit_ms,
                why=f"{spec.name}'s p99 duration passed {limit_ms:.0f} ms ({alarms.FUNCTION_P99_FRACTION:.0%} of its "
                "timeout): requests are about to time out.",
                family="latency",
                action=action,
                comparison=alarms.GT,
            )
        return alarms.FunctionAlarms(errors=error_alarm, latency=latency)

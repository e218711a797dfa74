"""An EventBridge schedule for a job function: retries, an encrypted DLQ, async-failure destination, alarms."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs import grants
from infra.constructs.alarms import alarm_on_any_message
from infra.constructs.queues import encrypted_queue
from switchboard import catalog

RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


class JobSchedule(Construct):
    """`rule` invokes `function` at the catalog rate; undeliverable events and failed runs land in `dlq`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedule: catalog.Schedule,
        function: lambda_.IFunction,
        key: kms.IKey,
        alarm_action: actions.SnsAction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = encrypted_queue(self, "Dlq", key=key, retention_period=Duration.days(14))
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Runs the {schedule.name} job",
            schedule=events.Schedule.expression(schedule.expression),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                function, dead_letter_queue=self.dlq, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE
            )
        )
        # EventBridge invokes asynchronously: a run that fails after Lambda's retries goes to the same DLQ.
        lambda_.EventInvokeConfig(
            self,
            "AsyncInvoke",
            function=function,
            on_failure=grants.QueueDestination(self.dlq, key),
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
        alarm_on_any_message(self, "DlqNotEmpty", queue=self.dlq, action=alarm_action)

"""The on-call alarm topic (our CMK, TLS-only publishers, e-mail) and a helper for "any message in a DLQ"."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.queues import encrypted_queue


class AlarmTopic(Construct):
    """SNS topic every alarm notifies; the e-mail subscription has its own encrypted DLQ."""

    def __init__(self, scope: Construct, construct_id: str, *, email: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="Switchboard alarms", master_key=key, enforce_ssl=True)
        self.delivery_dlq = encrypted_queue(self, "DeliveryDlq", key=key, retention_period=Duration.days(14))
        self.topic.add_subscription(subscriptions.EmailSubscription(email, dead_letter_queue=self.delivery_dlq))
        self.action = actions.SnsAction(self.topic)
        # Visible on the console and to the next successful delivery: on-call mail bounced or was refused.
        alarm_on_any_message(self, "DeliveryDlqNotEmpty", queue=self.delivery_dlq, action=self.action)


def alarm_on_any_message(scope: Construct, construct_id: str, *, queue: sqs.IQueue, action: actions.SnsAction) -> None:
    """Alarm as soon as a dead-letter queue holds one message (R57)."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description="A message was dead-lettered: inspect it, fix the cause, then redrive.",
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(action)


def alarm_on_errors(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: int,
    description: str,
    action: actions.SnsAction,
) -> None:
    """Alarm when a Sum metric reaches `threshold` within five minutes."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(action)

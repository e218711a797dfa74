"""A catalog queue: standard SQS queue + DLQ (our CMK, TLS only), redrive, and an alarm on any DLQ message."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.alarms import alarm_on_any_message
from infra.constructs.queues import encrypted_queue
from switchboard import catalog


class CatalogQueue(Construct):
    """`queue` (what functions send to / consume from) and its `dlq`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: catalog.Queue,
        key: kms.IKey,
        alarm_action: actions.SnsAction,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = encrypted_queue(
            self,
            "Dlq",
            key=key,
            data_key_reuse=Duration.minutes(5),
            retention_period=Duration.days(spec.dlq_retention_days),
            removal_policy=removal_policy,
        )
        self.queue = encrypted_queue(
            self,
            "Queue",
            key=key,
            data_key_reuse=Duration.minutes(5),
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            retention_period=Duration.days(spec.retention_days),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=spec.max_receive_count),
            removal_policy=removal_policy,
        )
        alarm_on_any_message(self, "DlqNotEmpty", queue=self.dlq, action=alarm_action)

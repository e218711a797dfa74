"""The data stack's resources handed to the API stack through SSM parameters instead of CloudFormation exports.

An export cannot change or go while another stack imports it, so renaming or replacing a table, queue, secret or
key would deadlock the two stacks. The data stack publishes each ARN under /switchboard/<stage>/data/…; the API
stack resolves them at deploy time (SSM-typed template parameters) and rebuilds ITable/IQueue/ISecret/IKey objects
with the same attribute shape as DataStack (`tables.by_id`, `queues[id].queue`, `secrets.by_id`, `keys.*`,
`buckets[id]`, `alarms.action`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from switchboard import catalog

if TYPE_CHECKING:
    from infra.stacks.data_stack import DataStack

# The data stack keys the API stack uses (not the backup key).
KEYS = ("data", "envelope", "logs", "audit_mac", "receipts")


def parameter_name(stage: str, kind: str, name: str) -> str:
    """The SSM parameter holding the ARN of one data stack resource."""
    return f"/switchboard/{stage}/data/{kind}/{name}"


def publish(data: DataStack, stage: str) -> None:
    """Write every ARN the API stack needs as an SSM parameter of the data stack."""
    arns: dict[str, str] = {}
    for table in catalog.TABLES:
        arns[parameter_name(stage, "table", table.id)] = data.tables.by_id[table.id].table_arn
    for queue in catalog.QUEUES:
        arns[parameter_name(stage, "queue", queue.id)] = data.queues[queue.id].queue.queue_arn
        arns[parameter_name(stage, "dlq", queue.id)] = data.queues[queue.id].dlq.queue_arn  # the status page's
    for secret in catalog.secrets_for(stage):
        arns[parameter_name(stage, "secret", secret.id)] = data.secrets.by_id[secret.id].secret_arn
    for name in KEYS:
        arns[parameter_name(stage, "key", name)] = getattr(data.keys, name).key_arn
    arns[parameter_name(stage, "topic", "alarms")] = data.alarms.topic.topic_arn
    arns[parameter_name(stage, "bucket", "audit-anchors")] = data.audit_anchors.bucket.bucket_arn
    for bucket in catalog.BUCKETS:
        arns[parameter_name(stage, "bucket", bucket.id.lower())] = data.buckets[bucket.id].bucket_arn
    scope = Construct(data, "Published")
    for name, arn in arns.items():
        ssm.StringParameter(scope, name.rsplit("/data/", 1)[1].replace("/", "-"), parameter_name=name, string_value=arn)


@dataclass(frozen=True)
class _Tables:
    by_id: dict[str, dynamodb.ITable]


@dataclass(frozen=True)
class _Queue:
    queue: sqs.IQueue
    dlq: sqs.IQueue


@dataclass(frozen=True)
class _Secrets:
    by_id: dict[str, secretsmanager.ISecret]


@dataclass(frozen=True)
class _Keys:
    data: kms.IKey
    envelope: kms.IKey
    logs: kms.IKey
    audit_mac: kms.IKey
    receipts: kms.IKey


@dataclass(frozen=True)
class _AuditAnchors:
    bucket: s3.IBucket


@dataclass(frozen=True)
class _Alarms:
    action: actions.SnsAction


class DataRefs(Construct):
    """The API stack's view of the data stack, read from SSM: same attribute names as DataStack."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)

        def arn(kind: str, name: str) -> str:
            return ssm.StringParameter.value_for_string_parameter(self, parameter_name(stage, kind, name))

        key = {name: kms.Key.from_key_arn(self, f"{_pascal(name)}Key", arn("key", name)) for name in KEYS}
        self.keys = _Keys(
            data=key["data"],
            envelope=key["envelope"],
            logs=key["logs"],
            audit_mac=key["audit_mac"],
            receipts=key["receipts"],
        )
        self.audit_anchors = _AuditAnchors(
            bucket=s3.Bucket.from_bucket_attributes(
                self, "AuditAnchorsBucket", bucket_arn=arn("bucket", "audit-anchors"), encryption_key=self.keys.data
            )
        )
        self.buckets: dict[str, s3.IBucket] = {
            spec.id: s3.Bucket.from_bucket_attributes(
                self, f"{spec.id}Bucket", bucket_arn=arn("bucket", spec.id.lower()), encryption_key=self.keys.data
            )
            for spec in catalog.BUCKETS
        }
        self.tables = _Tables(
            by_id={
                spec.id: dynamodb.Table.from_table_attributes(
                    self, f"{spec.id}Table", table_arn=arn("table", spec.id), encryption_key=self.keys.data
                )
                for spec in catalog.TABLES
            }
        )
        self.queues = {
            spec.id: _Queue(
                sqs.Queue.from_queue_attributes(
                    self, f"{spec.id}Queue", queue_arn=arn("queue", spec.id), key_arn=self.keys.data.key_arn
                ),
                sqs.Queue.from_queue_attributes(
                    self, f"{spec.id}Dlq", queue_arn=arn("dlq", spec.id), key_arn=self.keys.data.key_arn
                ),
            )
            for spec in catalog.QUEUES
        }
        self.secrets = _Secrets(
            by_id={
                spec.id: secretsmanager.Secret.from_secret_attributes(
                    self, f"{spec.id}Secret", secret_complete_arn=arn("secret", spec.id), encryption_key=self.keys.data
                )
                for spec in catalog.secrets_for(stage)
            }
        )
        topic = sns.Topic.from_topic_arn(self, "AlarmTopic", arn("topic", "alarms"))
        self.alarms = _Alarms(action=actions.SnsAction(topic))


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))

"""The DynamoDB tables of the catalog: on-demand, our CMK, PITR 30 days (none for an unrestorable table: R61),
deletion protection (per stage), TTL, GSIs."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from switchboard import catalog

PITR_DAYS = 30  # R58: PITR copies never outlive the 30-day backup promise


class Tables(Construct):
    """One `AWS::DynamoDB::Table` per catalog table, by catalog id."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: tuple[catalog.Table, ...],
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_id: dict[str, dynamodb.Table] = {}
        self.restorable: list[dynamodb.Table] = []  # the tables AWS Backup selects (R59)
        for spec in tables:
            table = dynamodb.Table(
                # The construct id is the catalog id: never rename it once deployed (it would replace the table).
                self,
                spec.id,
                partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=key,
                # R61 over R58 for the key-encryption keys: a KEK that a PITR restore could bring back would undo
                # every crypto-shred (docs/account-lifecycle.md), so that table has no PITR and no backup.
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True, recovery_period_in_days=PITR_DAYS
                )
                if spec.restorable
                else dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=False),
                deletion_protection=deletion_protection,
                time_to_live_attribute=spec.ttl_attribute,
                removal_policy=removal_policy,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.partition_key, type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            self.by_id[spec.id] = table
            if spec.restorable:
                self.restorable.append(table)

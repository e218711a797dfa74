"""AWS Backup: daily backups of every restorable table, kept 30 days, in a vault with its own key (locked in prod).

Not the key-encryption keys (catalog `restorable=False`): a backup of them would undo crypto-shredding (R61).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

RETENTION_DAYS = 30  # R59
# Nobody (not even an administrator) may delete a recovery point, rewrite this policy or delete the vault through
# the API: recovery points age out by their lifecycle; break-glass is the manual runbook (docs/runbooks.md#backup).
PROTECTED_ACTIONS = (
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:PutBackupVaultAccessPolicy",
    "backup:DeleteBackupVaultAccessPolicy",
    "backup:DeleteBackupVault",
)


class Backups(Construct):
    """`vault` (encrypted with `key`) and `plan` (daily rule, 30 days, every table given selected).

    `locked` (the stage's lock_backups): the vault denies deletion and outlives the stack; unlocked (dev), the
    vault goes with the stack once `make destroy` has deleted its recovery points.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Sequence[dynamodb.ITable],
        key: kms.IKey,
        locked: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        deny_deletion = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="NoDeletionThroughTheApi",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=list(PROTECTED_ACTIONS),
                    resources=["*"],
                )
            ]
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            encryption_key=key,
            access_policy=deny_deletion if locked else None,
            removal_policy=RemovalPolicy.RETAIN if locked else RemovalPolicy.DESTROY,
        )
        self.plan = backup.BackupPlan(self, "Plan", backup_vault=self.vault)
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="Daily",
                schedule_expression=events.Schedule.cron(hour="3", minute="0"),
                start_window=Duration.hours(1),
                completion_window=Duration.hours(4),
                delete_after=Duration.days(RETENTION_DAYS),
            )
        )
        # DynamoDB advanced backup (so the vault key applies) is an account/Region setting with no CloudFormation
        # resource (AdvancedBackupSettings is Windows VSS only): docs/runbooks.md#backup enables it once.
        self.plan.add_selection(
            "Tables",
            resources=[backup.BackupResource.from_dynamo_db_table(table) for table in tables],
            allow_restores=False,
        )

"""Stateful resources: keys, tables, queues + DLQs, secrets, backups and the alarm topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs import data_refs
from infra.constructs.alarms import AlarmTopic
from infra.constructs.audit_anchors import AuditAnchors
from infra.constructs.backup import Backups
from infra.constructs.catalog_queue import CatalogQueue
from infra.constructs.files_bucket import FilesBucket
from infra.constructs.keys import Keys
from infra.constructs.secrets import Secrets
from infra.constructs.tables import Tables
from switchboard import catalog


class DataStack(Stack):
    """Everything that holds data; the API stack reads its ARNs from SSM (infra/constructs/data_refs.py)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, api_role_prefix: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.keys = Keys(self, "Keys", api_role_prefix=api_role_prefix, removal_policy=removal)
        self.alarms = AlarmTopic(self, "Alarms", email=config.alarm_email, key=self.keys.data)
        self.tables = Tables(
            self,
            "Tables",
            tables=catalog.TABLES,
            key=self.keys.data,
            removal_policy=removal,
            deletion_protection=config.deletion_protection,
        )
        self.queues = {
            spec.id: CatalogQueue(
                self,
                spec.id,
                spec=spec,
                key=self.keys.data,
                alarm_action=self.alarms.action,
                removal_policy=removal,
            )
            for spec in catalog.QUEUES
        }
        self.secrets = Secrets(
            self,
            "Secrets",
            secrets=catalog.secrets_for(config.name),
            key=self.keys.data,
            logs_key=self.keys.logs,
            log_retention_days=config.log_retention_days,
            removal_policy=removal,
            stage=config.name,
        )
        self.audit_anchors = AuditAnchors(
            self, "AuditAnchors", key=self.keys.data, retention_days=config.audit_log_retention_days
        )
        # Not in the backup plan: without its account's key-encryption key an object is noise (docs/files.md).
        self.files = {
            spec.id: FilesBucket(
                self,
                spec.id,
                spec=spec,
                key=self.keys.data,
                removal_policy=removal,
                log_retention_days=config.log_retention_days,
            )
            for spec in catalog.BUCKETS
        }
        self.buckets = {bucket_id: files.bucket for bucket_id, files in self.files.items()}
        self.backups = Backups(
            self, "Backups", tables=self.tables.restorable, key=self.keys.backup, locked=config.lock_backups
        )
        data_refs.publish(self, config.name)

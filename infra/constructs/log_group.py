"""Log groups the house way: our logs CMK, explicit retention, removal following the stage."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for `days` (only values CloudWatch accepts and we use)."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"log retention {days} days: use one of {sorted(_RETENTION)}") from None


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention_days: int,
    name: str | None = None,
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
) -> logs.LogGroup:
    """A KMS-encrypted log group with retention; `name` only where AWS requires one (WAF, execution logs)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=retention(retention_days),
        removal_policy=removal_policy,
    )

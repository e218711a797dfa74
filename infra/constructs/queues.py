"""The platform's SQS queues: every one encrypted with our CMK and refusing requests without TLS."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention_period: Duration,
    data_key_reuse: Duration | None = None,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
    removal_policy: RemovalPolicy | None = None,
) -> sqs.Queue:
    """A queue under `key` (SSE-KMS) whose policy denies any request without TLS."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=retention_period,
        data_key_reuse=data_key_reuse,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
        removal_policy=removal_policy,
    )

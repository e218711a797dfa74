"""Catalog `Access` values turned into least-privilege IAM statements (explicit actions, explicit index ARNs)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from infra import catalog
from infra.catalog import Access

_READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem")
_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TABLE_ACTIONS: dict[Access, tuple[str, ...]] = {
    Access.READ: (*_READ, "dynamodb:DescribeTable"),
    Access.WRITE: (*_WRITE, "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"),
    Access.READ_WRITE: (*_READ, *_WRITE, "dynamodb:DescribeTable"),
    # R55: the audit trail is append-only for every application role: no UpdateItem, no DeleteItem. Query finds
    # the chain's head, whose hash the next event links to.
    Access.PUT_ONLY: ("dynamodb:PutItem", "dynamodb:Query"),
    Access.PURGE: ("dynamodb:Scan", "dynamodb:Query", "dynamodb:DeleteItem"),
}
_KMS_READ = ("kms:Decrypt", "kms:DescribeKey")
_KMS_WRITE = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")
TABLE_KEY_ACTIONS: dict[Access, tuple[str, ...]] = {
    Access.READ: _KMS_READ,
    Access.WRITE: _KMS_WRITE,
    Access.READ_WRITE: _KMS_WRITE,
    Access.PUT_ONLY: _KMS_WRITE,
    Access.PURGE: _KMS_READ,
}


def _via(service: str, role: iam.Role) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"kms:ViaService": f"{service}.{Stack.of(role).region}.amazonaws.com"}}


def grant_table(role: iam.Role, *, table: dynamodb.ITable, spec: catalog.Table, key: kms.IKey, access: Access) -> None:
    """Grant `access` on the table and its indexes, and the key use DynamoDB makes on the caller's behalf."""
    if access not in TABLE_ACTIONS:
        raise ValueError(f"{access} is not a table access ({spec.id})")
    resources = [table.table_arn]
    if access is not Access.PUT_ONLY:
        resources += [f"{table.table_arn}/index/{index.name}" for index in spec.indexes]
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS[access]), resources=resources))
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(TABLE_KEY_ACTIONS[access]), resources=[key.key_arn], conditions=_via("dynamodb", role)
        )
    )


def grant_queue_send(role: iam.Role, *, queue: sqs.IQueue, key: kms.IKey) -> None:
    """SendMessage only, plus the data-key use SQS makes to encrypt it."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn], conditions=_via("sqs", role)
        )
    )


def grant_secret_read(role: iam.Role, *, secret: secretsmanager.ISecret, access: Access) -> None:
    """Secrets are only ever read by functions (rotation is a runbook or the seeder)."""
    if access is not Access.READ:
        raise ValueError(f"secrets support only {Access.READ}, not {access}")
    secret.grant_read(role)


def grant_send_email(role: iam.Role, *, identity_arn: str, from_address: str) -> None:
    """SendEmail from our verified domain identity, and only with our sender address."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ses:SendEmail"],
            resources=[identity_arn],
            conditions={"StringEquals": {"ses:FromAddress": from_address}},
        )
    )


def grant_envelope(role: iam.Role, *, key: kms.IKey) -> None:
    """Per-account envelope encryption: GenerateDataKey and Decrypt on the envelope key only."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
    )

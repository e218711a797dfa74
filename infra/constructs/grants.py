"""Catalog grants turned into least-privilege IAM statements: exact actions, resources and KMS conditions."""

from __future__ import annotations

import jsii
from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from switchboard import catalog
from switchboard.catalog import Access, BucketAccess, Op

# DynamoDB asks KMS, on the caller's behalf, to decrypt the table key for every item operation and for a data key
# when it writes; it binds the request to the table (encryption context aws:dynamodb:tableName).
_TABLE_WRITES = frozenset({Op.PUT, Op.UPDATE, Op.DELETE, Op.BATCH_WRITE})
# R55: the audit trail is append-only for every application role: Put, and Query for the chain's head (Scan: the
# anchor job finds the accounts with a trail).
_APPEND_ONLY = frozenset({Op.PUT, Op.QUERY, Op.SCAN})


def table_actions(ops: frozenset[Op]) -> tuple[list[str], list[str]]:
    """The IAM actions `ops` need on the table itself, and the indexes they query."""
    on_table = sorted({op.action for op in ops if op.index_name is None})
    return on_table, sorted(op.index_name for op in ops if op.index_name)


def _key_use(role: iam.IRole, key: kms.IKey, service: str, actions: list[str], **context: str) -> None:
    """The KMS calls `service` makes on the role's behalf, only through that service and for one resource (the
    encryption context the service sets)."""
    conditions = {"kms:ViaService": f"{service}.{Stack.of(role).region}.amazonaws.com"}
    conditions |= {f"kms:EncryptionContext:{name}": value for name, value in context.items()}
    _add(role, iam.PolicyStatement(actions=actions, resources=[key.key_arn], conditions={"StringEquals": conditions}))


def _add(role: iam.IRole, statement: iam.PolicyStatement) -> None:
    role.add_to_principal_policy(statement)


def grant_table(
    role: iam.Role, *, table: dynamodb.ITable, spec: catalog.Table, key: kms.IKey, ops: frozenset[Op]
) -> None:
    """Exactly `ops` on the table (Query on an index only where an op names it), and the key use DynamoDB makes."""
    if not ops:
        raise ValueError(f"{spec.id}: a table grant needs at least one operation")
    if spec.append_only and not ops <= _APPEND_ONLY:
        raise ValueError(f"{spec.id} is append-only: {sorted(ops - _APPEND_ONLY)} would change its history")
    on_table, on_indexes = table_actions(ops)
    if on_table:
        _add(role, iam.PolicyStatement(actions=on_table, resources=[table.table_arn]))
    if on_indexes:
        unknown = set(on_indexes) - {index.name for index in spec.indexes}
        if unknown:
            raise ValueError(f"{spec.id} has no index {sorted(unknown)}")
        indexes = [f"{table.table_arn}/index/{name}" for name in on_indexes]
        _add(role, iam.PolicyStatement(actions=["dynamodb:Query"], resources=indexes))
    kms_actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if ops & _TABLE_WRITES else [])
    _key_use(role, key, "dynamodb", kms_actions, **{"aws:dynamodb:tableName": table.table_name})


def grant_queue_send(role: iam.IRole, *, queue: sqs.IQueue, key: kms.IKey) -> None:
    """SendMessage only, plus the data key SQS generates (and decrypts) for it, bound to this queue."""
    _add(role, iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
    _key_use(role, key, "sqs", ["kms:GenerateDataKey", "kms:Decrypt"], **{"aws:sqs:arn": queue.queue_arn})


def grant_queue_consume(role: iam.IRole, *, queue: sqs.IQueue, key: kms.IKey) -> None:
    """What Lambda's event source mapping does with the function's role: poll, delete, extend visibility."""
    actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    _add(role, iam.PolicyStatement(actions=actions, resources=[queue.queue_arn]))
    _key_use(role, key, "sqs", ["kms:Decrypt"], **{"aws:sqs:arn": queue.queue_arn})


def grant_secret_read(role: iam.IRole, *, secret: secretsmanager.ISecret, key: kms.IKey, access: Access) -> None:
    """GetSecretValue, and the Decrypt Secrets Manager asks KMS for on the caller's behalf, for this secret only
    (Access.ROTATE: PutSecretValue too, and the GenerateDataKey it needs).

    `secret.grant_read` would write that Decrypt into the key policy, which lives in the data stack and is replaced
    there (keys.py): the role would be denied by KMS. The IAM grant below is what the key policy delegates to.
    """
    if access is Access.ROTATE:
        # A new version beside the old ones (switchboard.logic.secret_rotation): the seeder's two actions, no other.
        grant_secret_seed(role, secret=secret, key=key)
        return
    if access is not Access.READ:
        raise ValueError(f"secrets support only {Access.READ} or {Access.ROTATE}, not {access}")
    _add(role, iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]))
    _key_use(role, key, "secretsmanager", ["kms:Decrypt"], SecretARN=secret.secret_arn)


def grant_secret_seed(role: iam.IRole, *, secret: secretsmanager.ISecret, key: kms.IKey) -> None:
    """The seeder reads a secret and writes its new version (GenerateDataKey + Decrypt through Secrets Manager)."""
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    _add(role, iam.PolicyStatement(actions=actions, resources=[secret.secret_arn]))
    _key_use(role, key, "secretsmanager", ["kms:GenerateDataKey", "kms:Decrypt"], SecretARN=secret.secret_arn)


@jsii.implements(lambda_.IDestination)
class QueueDestination:
    """An on-failure destination whose grant is SendMessage plus the SQS key use for this queue (not CDK's
    SqsDestination, which grants kms:Encrypt, kms:ReEncrypt* and kms:GenerateDataKey* the service never uses)."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self.queue = queue
        self.key = key

    def bind(
        self, scope: Construct, fn: lambda_.IFunction, *, type: lambda_.DestinationType | None = None
    ) -> lambda_.DestinationConfig:
        """Grant the function's role and name the queue."""
        if fn.role is None:
            raise ValueError("a destination needs the function's role")
        grant_queue_send(fn.role, queue=self.queue, key=self.key)
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


def grant_send_email(role: iam.Role, *, identity_arn: str, from_address: str, configuration_set_arn: str) -> None:
    """SendEmail from our verified domain identity, and only with our sender address; SES also authorizes the
    configuration set the message names (the stage's, for its reputation metrics)."""
    _add(
        role,
        iam.PolicyStatement(
            actions=["ses:SendEmail"],
            resources=[identity_arn, configuration_set_arn],
            conditions={"StringEquals": {"ses:FromAddress": from_address}},
        ),
    )


def grant_envelope(role: iam.Role, *, key: kms.IKey, creates: bool) -> None:
    """Per-account envelopes: Decrypt (and GenerateDataKey where new accounts begin), bound to an account."""
    _add(
        role,
        iam.PolicyStatement(
            actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if creates else [])],
            resources=[key.key_arn],
            conditions={"StringLike": {"kms:EncryptionContext:account_id": "*"}},
        ),
    )


def grant_audit_mac(role: iam.Role, *, key: kms.IKey, generate: bool, verify: bool) -> None:
    """GenerateMac (audit writers) and/or VerifyMac (verifiers) on the audit HMAC key, HMAC-SHA-256 only."""
    actions = [*(["kms:GenerateMac"] if generate else []), *(["kms:VerifyMac"] if verify else [])]
    if not actions:
        raise ValueError("an audit MAC grant needs generate or verify")
    _add(
        role,
        iam.PolicyStatement(
            actions=actions,
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}},
        ),
    )


def grant_receipt_key(role: iam.Role, *, key: kms.IKey, sign: bool) -> None:
    """R61: GetPublicKey (publish it) and, for the purge job, Sign with ECDSA P-256 / SHA-256 only."""
    _add(role, iam.PolicyStatement(actions=["kms:GetPublicKey"], resources=[key.key_arn]))
    if sign:
        _add(
            role,
            iam.PolicyStatement(
                actions=["kms:Sign"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
            ),
        )


# The anchors bucket's layout (switchboard.dal.anchors): anchored heads, and the archive of the events they cover.
ANCHOR_PREFIXES = ("anchors", "archive")


def grant_audit_anchors(role: iam.IRole, *, bucket: s3.IBucket, key: kms.IKey, access: Access) -> None:
    """READ: list and get anchors. WRITE_ONCE: also put new anchor and archive objects. Never a delete, a
    retention change or a governance bypass (the bucket policy denies those to everyone anyway)."""
    if access not in (Access.READ, Access.WRITE_ONCE):
        raise ValueError(f"the anchors bucket supports {Access.READ} or {Access.WRITE_ONCE}, not {access}")
    _add(
        role,
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": "anchors/*"}},
        ),
    )
    _add(role, iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("anchors/*")]))
    kms_actions = ["kms:Decrypt"]
    if access is Access.WRITE_ONCE:
        objects = [bucket.arn_for_objects(f"{prefix}/*") for prefix in ANCHOR_PREFIXES]
        _add(role, iam.PolicyStatement(actions=["s3:PutObject"], resources=objects))
        kms_actions.append("kms:GenerateDataKey")
    # With an S3 Bucket Key, S3 asks KMS for the bucket's key with the bucket's ARN as encryption context.
    _key_use(role, key, "s3", kms_actions, **{"aws:s3:arn": bucket.bucket_arn})


def grant_bucket(
    role: iam.IRole, *, bucket: s3.IBucket, spec: catalog.Bucket, key: kms.IKey, access: frozenset[BucketAccess]
) -> None:
    """Exactly `access` on a catalog bucket's objects, each under its own prefix (stored or staged), and the key use
    S3 makes on the role's behalf for that bucket alone (its Bucket Key's encryption context is the bucket's ARN)."""
    if not access:
        raise ValueError(f"{spec.id}: a bucket grant needs at least one access")
    stored, staged = f"{spec.stored_prefix}/*", f"{spec.staging_prefix}/*"
    by_prefix: dict[str, set[str]] = {}
    listed: list[str] = []
    wanted = {
        BucketAccess.READ: (stored, "s3:GetObject"),
        BucketAccess.WRITE: (stored, "s3:PutObject"),
        BucketAccess.DELETE: (stored, "s3:DeleteObjectVersion"),
        # The presigned PUT is made by the client with this role's credentials: it is the role's PutObject.
        BucketAccess.STAGE: (staged, "s3:PutObject", "s3:GetObject"),
        BucketAccess.CLEAR_STAGED: (staged, "s3:DeleteObjectVersion"),
    }
    for each in sorted(access):
        prefix, *actions = wanted[each]
        by_prefix.setdefault(prefix, set()).update(actions)
        if each in (BucketAccess.DELETE, BucketAccess.CLEAR_STAGED):
            listed.append(prefix)  # deleting every version needs their ids: ListObjectVersions, that prefix only
    for prefix, granted in sorted(by_prefix.items()):
        _add(role, iam.PolicyStatement(actions=sorted(granted), resources=[bucket.arn_for_objects(prefix)]))
    if listed:
        _add(
            role,
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": sorted(listed)}},
            ),
        )
    every = set().union(*by_prefix.values())
    kms_actions = [
        *(["kms:Decrypt"] if "s3:GetObject" in every else []),
        *(["kms:GenerateDataKey"] if "s3:PutObject" in every else []),
    ]
    if kms_actions:
        _key_use(role, key, "s3", kms_actions, **{"aws:s3:arn": bucket.bucket_arn})

"""The customer-managed KMS keys (data, per-account envelopes, logs, backups) and their scoped key policies."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from switchboard import catalog

# Key-policy design (keys live in the data stack, the roles that use them in the API stack). What holds:
# - No principal of the account can use a key for cryptography outside the AWS services that store our data: the
#   account root (i.e. IAM, which each role's own grant must still allow) may Encrypt/Decrypt/GenerateDataKey only
#   with kms:ViaService of those services and kms:CallerAccount of this account; the per-account envelope key alone
#   is used directly, and only by roles of this stage's API stack (aws:PrincipalArn), again on top of each role's
#   IAM grant. docs/permissions.md lists every use; tests/infra/test_permissions.py proves each is allowed.
# - kms:CreateGrant only through those services and only for an AWS resource (kms:GrantIsForAWSResource), so an
#   IAM admin cannot grant itself Decrypt. The account root administers the keys (describe, enable/disable, tag,
#   rotate, schedule deletion) but gets no kms:Create* and no unconditioned kms:Put*.
# - The key policy itself (kms:PutKeyPolicy) can be changed only by the CDK CloudFormation execution role
#   (`cdk-<qualifier>-cfn-exec-role-<account>-<region>`), i.e. by a deployment: KMS requires the creator to keep
#   PutKeyPolicy (its lockout safety check), and a changed policy is a reviewed `cdk diff`, a stack event and a
#   CloudTrail record. So an IAM admin cannot read data directly; an admin who deploys a changed key policy can,
#   visibly. That is the exact claim, stated in docs/permissions.md too.
# - Service principals (CloudWatch Logs, EventBridge, CloudWatch alarms, SNS) get only what they need, conditioned
#   on our account. No statement names a role ARN, so the data stack never depends on the API stack (no cycle).
ADMIN_ACTIONS = (
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
# The role CloudFormation deploys with (CDK's default synthesizer, any bootstrap qualifier).
DEPLOY_ROLE_PATTERN = "arn:aws:iam::{account}:role/cdk-*-cfn-exec-role-{account}-{region}"
USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")


MAC_ACTIONS = ("kms:GenerateMac", "kms:VerifyMac")
MAC_ALGORITHM = "HMAC_SHA_256"
# R61: deletion receipts are signed with an asymmetric key whose private half never leaves KMS; customers verify
# with the published public key (GET /.well-known/deletion-receipt-keys).
RECEIPT_KEY_SPEC = kms.KeySpec.ECC_NIST_P256
SIGNING_ALGORITHM = "ECDSA_SHA_256"


class Keys(Construct):
    """Four symmetric CMKs with yearly rotation (data, envelope (DATA_KEY_ID), logs, backups), the audit chain's
    HMAC key (AUDIT_MAC_KEY_ID) and the deletion receipts' ECC signing key (RECEIPT_KEY_ID)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, api_role_prefix: str, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        account, region = stack.account, stack.region
        self._removal_policy = removal_policy
        self.data = self._key(
            "DataKey",
            "tables, queues, secrets and the alarm topic",
            # S3: the audit anchors bucket (infra/constructs/audit_anchors.py) and the Files bucket (files_bucket.py).
            *self._via(account, region, "dynamodb", "sqs", "secretsmanager", "sns", "s3"),
            # EventBridge and SNS deliver to our encrypted DLQs; CloudWatch alarms publish to the encrypted topic.
            iam.PolicyStatement(
                sid="DeliverToEncryptedQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com"), iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            ),
            iam.PolicyStatement(
                sid="AlarmsPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            ),
        )
        self.envelope = self._key(
            "EnvelopeKey",
            "wraps the per-account data keys (DATA_KEY_ID)",
            iam.PolicyStatement(
                sid="EnvelopeUseByApiRoles",
                principals=[iam.AccountRootPrincipal()],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions={
                    "StringLike": {
                        "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{api_role_prefix}*",
                        # switchboard.crypto.envelope binds every data key to its account (encryption context).
                        "kms:EncryptionContext:account_id": "*",
                    }
                },
            ),
        )
        self.logs = self._key(
            "LogsKey",
            "CloudWatch log groups",
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:*"}},
            ),
        )
        self.backup = self._key("BackupKey", "the AWS Backup vault", *self._via(account, region, "backup", "dynamodb"))
        # R55: the audit chain's MACs. An HMAC key's material never leaves KMS (no Decrypt, no export exists for
        # it): writers GenerateMac, verifiers VerifyMac, each with its own IAM grant on top of this statement.
        # KMS cannot rotate HMAC keys automatically; a new key would start a new chain (docs/runbooks.md).
        self.audit_mac = self._key(
            "AuditMacKey",
            "audit chain MACs (AUDIT_MAC_KEY_ID)",
            iam.PolicyStatement(
                sid="MacByApiRoles",
                principals=[iam.AccountRootPrincipal()],
                actions=list(MAC_ACTIONS),
                resources=["*"],
                conditions={
                    "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{account}:role/{api_role_prefix}*"},
                    "StringEquals": {"kms:MacAlgorithm": MAC_ALGORITHM},
                },
            ),
            spec=kms.KeySpec.HMAC_256,
        )

        # Only the functions that sign receipts (the purge job) may Sign. Reading the public key needs no statement
        # of its own (AdministerOnly's kms:Get*, with the publishing functions' IAM grant), and nobody verifies with
        # KMS: customers verify the published PEM offline. KMS cannot rotate asymmetric keys: a new key is a new
        # published key id, the old one stays published while receipts signed with it are kept
        # (docs/runbooks.md#deletion-receipt-key).
        signers = [
            f"arn:aws:iam::{account}:role/{api_role_prefix}{_pascal(fn.name)}Role*"
            for fn in catalog.FUNCTIONS
            if fn.signs_deletion_receipts
        ]
        self.receipts = self._key(
            "ReceiptKey",
            "signs deletion receipts (RECEIPT_KEY_ID)",
            iam.PolicyStatement(
                sid="SignByThePurgeJobOnly",
                principals=[iam.AccountRootPrincipal()],
                actions=["kms:Sign"],
                resources=["*"],
                conditions={
                    "StringLike": {"aws:PrincipalArn": signers},
                    "StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM},
                },
            ),
            spec=RECEIPT_KEY_SPEC,
        )

    @staticmethod
    def _via(account: str, region: str, *services: str) -> tuple[iam.PolicyStatement, iam.PolicyStatement]:
        via = {"kms:CallerAccount": account, "kms:ViaService": [f"{svc}.{region}.amazonaws.com" for svc in services]}
        use = iam.PolicyStatement(
            sid="UseThroughOurServices",
            principals=[iam.AccountRootPrincipal()],
            actions=list(USE_ACTIONS),
            resources=["*"],
            conditions={"StringEquals": via},
        )
        # DynamoDB and Secrets Manager create grants for the resources they encrypt (tables, backups) at creation.
        grant = iam.PolicyStatement(
            sid="GrantsOnlyForOurResources",
            principals=[iam.AccountRootPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"StringEquals": via, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
        return use, grant

    def _key(
        self,
        construct_id: str,
        description: str,
        *statements: iam.PolicyStatement,
        spec: kms.KeySpec = kms.KeySpec.SYMMETRIC_DEFAULT,
    ) -> kms.Key:
        symmetric = spec is kms.KeySpec.SYMMETRIC_DEFAULT
        usage = kms.KeyUsage.SIGN_VERIFY if spec is RECEIPT_KEY_SPEC else kms.KeyUsage.GENERATE_VERIFY_MAC
        key = kms.Key(
            self,
            construct_id,
            description=f"Switchboard: {description}",
            key_spec=spec,
            key_usage=kms.KeyUsage.ENCRYPT_DECRYPT if symmetric else usage,
            enable_key_rotation=symmetric,
            rotation_period=Duration.days(365) if symmetric else None,
            pending_window=Duration.days(30),
            removal_policy=self._removal_policy,
        )
        # The document below replaces the L2's policy outright: statements CDK grants would add there (role ARNs of
        # the API stack, which would make the stacks depend on each other) never reach the template; every role
        # gets its own IAM grant instead.
        cfn = cast(kms.CfnKey, key.node.default_child)
        stack = Stack.of(self)
        admin = iam.PolicyStatement(
            sid="AdministerOnly", principals=[iam.AccountRootPrincipal()], actions=list(ADMIN_ACTIONS), resources=["*"]
        )
        policy_by_deployment = iam.PolicyStatement(
            sid="PolicyChangesByDeploymentOnly",
            principals=[iam.AccountRootPrincipal()],
            actions=["kms:PutKeyPolicy"],
            resources=["*"],
            conditions={
                "ArnLike": {"aws:PrincipalArn": DEPLOY_ROLE_PATTERN.format(account=stack.account, region=stack.region)}
            },
        )
        cfn.key_policy = iam.PolicyDocument(statements=[admin, policy_by_deployment, *statements])
        return key


def _pascal(name: str) -> str:
    # The API stack's construct id of a function (infra/stacks/api_stack.py), which its role's name starts with.
    return "".join(part.capitalize() for part in name.split("_"))

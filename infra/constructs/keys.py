"""The customer-managed KMS keys (data, per-account envelopes, logs, backups) and their scoped key policies."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# Key-policy design (keys live in the data stack, the roles that use them in the API stack):
# - the account root may only ADMINISTER the keys (no Encrypt/Decrypt), so an IAM admin cannot read data directly;
# - cryptographic use is allowed to principals of this account only through the AWS services that store our data
#   (kms:ViaService + kms:CallerAccount), and each role still needs its own IAM grant (issued per function);
# - the per-account envelope key is used directly (GenerateDataKey/Decrypt outside any service), so it admits only
#   roles of this stage's API stack (aws:PrincipalArn StringLike), again on top of each role's IAM grant;
# - service principals (CloudWatch Logs, EventBridge, CloudWatch alarms, SNS) get only what they need, conditioned
#   on our account. No statement names a role ARN, so the data stack never depends on the API stack (no cycle).
ADMIN_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
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
USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")


class Keys(Construct):
    """Four symmetric CMKs with yearly rotation: data, envelope (DATA_KEY_ID), logs, backups."""

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
            self._via(account, region, "dynamodb", "sqs", "secretsmanager", "sns"),
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
                conditions={"StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{account}:role/{api_role_prefix}*"}},
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
        self.backup = self._key("BackupKey", "the AWS Backup vault", self._via(account, region, "backup", "dynamodb"))

    @staticmethod
    def _via(account: str, region: str, *services: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="UseThroughOurServices",
            principals=[iam.AccountRootPrincipal()],
            actions=[*USE_ACTIONS, "kms:CreateGrant"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": [f"{svc}.{region}.amazonaws.com" for svc in services],
                }
            },
        )

    def _key(self, construct_id: str, description: str, *statements: iam.PolicyStatement) -> kms.Key:
        key = kms.Key(
            self,
            construct_id,
            description=f"Switchboard: {description}",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            removal_policy=self._removal_policy,
        )
        # The document below replaces the L2's policy outright: statements CDK grants would add there (role ARNs of
        # the API stack, which would make the stacks depend on each other) never reach the template; every role
        # gets its own IAM grant instead.
        cfn = cast(kms.CfnKey, key.node.default_child)
        admin = iam.PolicyStatement(
            sid="AdministerOnly", principals=[iam.AccountRootPrincipal()], actions=list(ADMIN_ACTIONS), resources=["*"]
        )
        cfn.key_policy = iam.PolicyDocument(statements=[admin, *statements])
        return key

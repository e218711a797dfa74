"""Creates every catalog table, queue, key, secret and sender identity in moto and points this process at them."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from infra.environment import StageValues, function_environment
from switchboard import catalog, settings

STAGE = "local"
REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs it returns use it
PREFIX = "switchboard-local"
SECURITY_CONTACT = "mailto:security@switchboard.example"
SECURITY_POLICY_URL = "https://switchboard.example/security/policy"
# What Lambda's runtime gives every function (region, credentials) and what this process's own logger needs.
BASE_ENV: dict[str, str] = {
    "STAGE": STAGE,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "switchboard",
    "POWERTOOLS_METRICS_NAMESPACE": "Switchboard",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "MAIL_FROM": settings.MAIL_FROM,
}
DAY_S = 86400
AUDIT_RETENTION_DAYS = 400  # infra/config.py's audit_log_retention_days default (a test ties them)


def table_name(spec: catalog.Table) -> str:
    """The local physical name of a catalog table."""
    return f"{PREFIX}-{spec.id}"


def queue_name(spec: catalog.Queue, *, dead_letter: bool = False) -> str:
    """The local physical name of a catalog queue or of its dead-letter queue."""
    return f"{PREFIX}-{spec.id}{'-dlq' if dead_letter else ''}"


def secret_name(spec: catalog.Secret) -> str:
    """The local name of a catalog secret (deployed functions get its ARN in the same env var)."""
    return f"switchboard/{STAGE}/{spec.id}"


def queue_arn(name: str) -> str:
    """The ARN moto gives a queue of this name."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def _key_schema(partition: str, sort: str) -> list[dict[str, str]]:
    return [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]


def create_table_request(spec: catalog.Table, name: str) -> dict[str, Any]:
    """CreateTable kwargs for one catalog table: string keys, on-demand, every index projecting all attributes."""
    keys = {spec.partition_key, spec.sort_key} | {k for i in spec.indexes for k in (i.partition_key, i.sort_key)}
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": i.name,
                "KeySchema": _key_schema(i.partition_key, i.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in spec.indexes
        ]
    return request


def table_requests() -> list[dict[str, Any]]:
    """CreateTable kwargs of every catalog table, local names (compared with the CDK template by a test)."""
    return [create_table_request(spec, table_name(spec)) for spec in catalog.TABLES]


def queue_requests(specs: Iterable[catalog.Queue] = catalog.QUEUES) -> list[dict[str, Any]]:
    """CreateQueue kwargs of every catalog queue, each dead-letter queue listed before the queue that uses it."""
    requests: list[dict[str, Any]] = []
    for spec in specs:
        dlq = queue_name(spec, dead_letter=True)
        requests.append(
            {"QueueName": dlq, "Attributes": {"MessageRetentionPeriod": str(spec.dlq_retention_days * DAY_S)}}
        )
        redrive = {"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": spec.max_receive_count}
        requests.append(
            {
                "QueueName": queue_name(spec),
                "Attributes": {
                    "VisibilityTimeout": str(spec.visibility_timeout_s),
                    "MessageRetentionPeriod": str(spec.retention_days * DAY_S),
                    "RedrivePolicy": json.dumps(redrive),
                },
            }
        )
    return requests


# The JSON shape of each carrier secret (see the adapters in switchboard/carriers and docs/runbooks.md#carriers).
CARRIER_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "WhatsAppCredentials": ("access_token", "app_secret", "verify_token"),
    "TwilioCredentials": ("account_sid", "auth_token"),
    "PlivoCredentials": ("auth_id", "auth_token"),
}


def secret_value(spec: catalog.Secret) -> dict[str, Any]:
    """A fresh secret: generated keys are random 256-bit base64url values; carrier credentials are placeholders."""
    if spec.generated_keys:
        return {key: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() for key in spec.generated_keys}
    # Real carrier credentials never exist locally: the sandbox carriers stand in for every carrier. The shape is
    # the real one; the values are random, so nobody can sign a webhook the real adapters would accept locally.
    value: dict[str, Any] = {key: f"placeholder-{secrets.token_urlsafe(16)}" for key in CARRIER_SECRET_KEYS[spec.id]}
    if spec.id == "WhatsAppCredentials":
        value["phone_number_ids"] = {}
    return value


@dataclass(frozen=True)
class LocalNames:
    """The catalog resources as this stack named them (infra.environment.ResourceNames)."""

    tables: dict[str, str]  # catalog id -> table name
    queues: dict[str, str]  # catalog id -> queue URL
    secrets: dict[str, str]  # catalog id -> secret name
    key_id: str
    mac_key_id: str = ""
    bucket: str = ""
    receipt_key_id: str = ""

    def table(self, table_id: str) -> str:
        """The table's name."""
        return self.tables[table_id]

    def queue(self, queue_id: str) -> str:
        """The queue's URL."""
        return self.queues[queue_id]

    def secret(self, secret_id: str) -> str:
        """The secret's name."""
        return self.secrets[secret_id]

    def data_key(self) -> str:
        """The data key's id."""
        return self.key_id

    def audit_mac_key(self) -> str:
        """The audit HMAC key's id."""
        return self.mac_key_id

    def anchor_bucket(self) -> str:
        """The audit anchors bucket's name."""
        return self.bucket

    def receipt_key(self) -> str:
        """The deletion receipts' signing key's id."""
        return self.receipt_key_id

    def catalog_bucket(self, bucket_id: str) -> str:
        """A catalog bucket's name."""
        return bucket_name(catalog.bucket(bucket_id))


def stage_values(stage: str, public_base_url: str) -> StageValues:
    """What the local stack publishes (deployed stages take these from cdk.json)."""
    return StageValues(
        stage=stage,
        public_base_url=public_base_url,
        security_contact=SECURITY_CONTACT,
        security_policy_url=SECURITY_POLICY_URL,
        mail_from=settings.MAIL_FROM,
    )


def status_page_bucket_name() -> str:
    """The local static status page bucket (served by the gateway at /_local/status-page/)."""
    return f"{PREFIX}-status-page"


def status_page_config(names: LocalNames, values: StageValues) -> str:
    """status_page_job's configuration, as infra/constructs/status_page.py sets it deployed."""
    queues = {}
    for spec in catalog.QUEUES:
        url = names.queue(spec.id)
        dlq_url = f"{url.rsplit('/', 1)[0]}/{queue_name(spec, dead_letter=True)}"  # same account and endpoint
        queues[spec.id] = {"name": queue_name(spec), "dlq_url": dlq_url}
    return json.dumps(
        {
            "bucket": status_page_bucket_name(),
            "page_url": f"{values.public_base_url}/_local/status-page/",
            "api_name": PREFIX,
            "api_stage": "live",
            "queues": queues,
        }
    )


def environments(names: LocalNames, values: StageValues) -> dict[str, dict[str, str]]:
    """Function name -> exactly the variables its deployed function gets (infra.environment, as CDK sets them)."""
    found = {spec.name: function_environment(spec, names, values) for spec in catalog.for_stage(values.stage)}
    if catalog.STATUS_PAGE_JOB in found:
        found[catalog.STATUS_PAGE_JOB][catalog.STATUS_PAGE_CONFIG_ENV] = status_page_config(names, values)
    return found


@dataclass(frozen=True)
class Provisioned:
    """What provisioning created: each function's environment, this process's own (every resource: the local
    tooling, never a function), and queue URLs by catalog id."""

    env: dict[str, str]
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]
    environments: dict[str, dict[str, str]]


def create_tables(client: Any, requests: Iterable[dict[str, Any]], specs: Iterable[catalog.Table]) -> None:
    """Create tables (CreateTable kwargs) and enable TTL on each catalog table's ttl attribute."""
    for request, spec in zip(requests, specs, strict=True):
        client.create_table(**request)
        client.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )


def anchor_bucket_name() -> str:
    """The local audit anchors bucket."""
    return f"{PREFIX}-audit-anchors"


def create_audit_resources(kms: Any, s3: Any, bucket: str, *, retention_days: int = AUDIT_RETENTION_DAYS) -> str:
    """The audit trail's KMS HMAC key and its anchors bucket (versioned, Object Lock compliance mode, default
    retention = the audit retention), as the data stack deploys them; returns the key's id."""
    key_id: str = kms.create_key(
        Description="switchboard audit chain HMAC key", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
    )["KeyMetadata"]["KeyId"]
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}, ObjectLockEnabledForBucket=True
    )
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}},
        },
    )
    return key_id


def bucket_name(spec: catalog.Bucket) -> str:
    """The local name of a catalog bucket."""
    return f"{PREFIX}-{spec.id.lower()}"


def create_bucket(s3: Any, name: str) -> None:
    """A catalog bucket as the data stack deploys it, as far as moto goes: versioned, private (moto's S3 keeps the
    objects; SSE-KMS, TLS-only and the lifecycle rules exist deployed only)."""
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def create_receipt_key(kms: Any) -> str:
    """R61: the deletion receipts' asymmetric signing key, as the data stack deploys it; returns its id."""
    key_id: str = kms.create_key(
        Description="switchboard deletion receipts signing key", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"
    )["KeyMetadata"]["KeyId"]
    return key_id


def provision(*, endpoint_url: str, public_base_url: str, stage: str = STAGE) -> Provisioned:
    """Create the stage's catalog resources in the moto server at `endpoint_url`; returns the environments."""
    import boto3  # noqa: PLC0415 - loaded once the stack starts, not when the gateway module is imported

    session = boto3.session.Session(
        aws_access_key_id=BASE_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=BASE_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=BASE_ENV["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    env = {**BASE_ENV, "STAGE": stage, "AWS_ENDPOINT_URL": endpoint_url, "PUBLIC_BASE_URL": public_base_url}
    # The drift job reads Cloudflare's ranges from the gateway's own fake: the local stack never reaches the internet.
    env["CLOUDFLARE_IPS_URL"] = f"{public_base_url}/_local/cloudflare/ips"
    # Nor does it look passwords up in Pwned Passwords (whatever the stage's rules); tests may point it at a fake.
    env["BREACHED_PASSWORDS_URL"] = ""
    create_tables(client("dynamodb"), table_requests(), catalog.TABLES)
    env.update({spec.env: table_name(spec) for spec in catalog.TABLES})

    sqs = client("sqs")
    urls = {request["QueueName"]: sqs.create_queue(**request)["QueueUrl"] for request in queue_requests()}
    queue_urls = {spec.id: urls[queue_name(spec)] for spec in catalog.QUEUES}
    dlq_urls = {spec.id: urls[queue_name(spec, dead_letter=True)] for spec in catalog.QUEUES}
    env.update({spec.env: queue_urls[spec.id] for spec in catalog.QUEUES})

    env["DATA_KEY_ID"] = client("kms").create_key(Description="switchboard local data key")["KeyMetadata"]["KeyId"]

    env["AUDIT_ANCHOR_BUCKET"] = anchor_bucket_name()
    env["AUDIT_MAC_KEY_ID"] = create_audit_resources(client("kms"), client("s3"), env["AUDIT_ANCHOR_BUCKET"])
    env["RECEIPT_KEY_ID"] = create_receipt_key(client("kms"))

    manager = client("secretsmanager")
    for spec in catalog.secrets_for(stage):
        manager.create_secret(Name=secret_name(spec), SecretString=json.dumps(secret_value(spec)))
        env[spec.env] = secret_name(spec)

    for bucket in catalog.BUCKETS:
        create_bucket(client("s3"), bucket_name(bucket))
        env[bucket.env] = bucket_name(bucket)

    client("ses").verify_email_identity(EmailAddress=parseaddr(settings.MAIL_FROM)[1])
    client("s3").create_bucket(
        Bucket=status_page_bucket_name(), CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    names = LocalNames(
        tables={spec.id: table_name(spec) for spec in catalog.TABLES},
        queues=queue_urls,
        secrets={spec.id: secret_name(spec) for spec in catalog.secrets_for(stage)},
        key_id=env["DATA_KEY_ID"],
        mac_key_id=env["AUDIT_MAC_KEY_ID"],
        bucket=env["AUDIT_ANCHOR_BUCKET"],
        receipt_key_id=env["RECEIPT_KEY_ID"],
    )
    functions = environments(names, stage_values(stage, public_base_url))
    return Provisioned(env=env, queue_urls=queue_urls, dlq_urls=dlq_urls, environments=functions)


def apply(env: dict[str, str]) -> None:
    """Point this process at the stack: its environment (the local tooling's; functions run in their own scope),
    settings re-read, clients rebuilt."""
    from switchboard import settings  # noqa: PLC0415
    from switchboard.dal import clients  # noqa: PLC0415

    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(env)
    settings.reload()
    clients.reset()

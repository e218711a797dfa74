"""The static status page (R69): a bucket only Cloudflare reads, written every minute by status_page_job.

S3-managed encryption, not our CMK: Cloudflare fetches the objects anonymously (from its published ranges only),
and S3 serves an SSE-KMS object to no anonymous caller. Everything in the bucket is public by design (component
status and incident texts); the CMK protects customer data, of which there is none here.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.edge import cloudflare_ranges
from infra.constructs.python_function import PythonFunction
from switchboard import catalog

PAGE_OBJECTS = ("index.html", "incidents.atom", "status.json")  # the only keys the job may write


def page_url(api_domain: str) -> str:
    """Where Cloudflare serves the page: `status.` beside the API's host (a proxied record, docs/runbooks.md)."""
    return f"https://status.{api_domain.partition('.')[2]}/"


class StatusPage(Construct):
    """`bucket`: TLS only, no ACLs, no public access but Cloudflare's GET of the page; the job's grants and config."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        job: PythonFunction,
        queues: Mapping[str, tuple[sqs.IQueue, sqs.IQueue]],
        api_name: str,
        api_stage: str,
        api_domain: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # A policy that names fixed aws:SourceIp ranges is not "public" to S3, so all four switches stay on.
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Kept with the stage's data (prod); dev's goes with its stack once `make destroy` has emptied it.
            removal_policy=removal_policy,
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudflareReadsThePage",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(key) for key in PAGE_OBJECTS],
                conditions={"IpAddress": {"aws:SourceIp": cloudflare_ranges()}},
            )
        )
        role = job.role
        # Exactly the three objects: no read, no list, no delete, no other key.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(key) for key in PAGE_OBJECTS]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:GetQueueAttributes"], resources=[dlq.queue_arn for _, dlq in queues.values()]
            )
        )
        # GetMetricData has no resource-level permission (nor a namespace condition): it reads metrics only.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        self.page_url = page_url(api_domain)
        config = {
            "bucket": self.bucket.bucket_name,
            "page_url": self.page_url,
            "api_name": api_name,
            "api_stage": api_stage,
            "queues": {
                queue_id: {"name": queue.queue_name, "dlq_url": dlq.queue_url}
                for queue_id, (queue, dlq) in sorted(queues.items())
            },
        }
        job.function.add_environment(catalog.STATUS_PAGE_CONFIG_ENV, Stack.of(self).to_json_string(config))
        CfnOutput(
            self,
            "Origin",
            value=self.bucket.bucket_regional_domain_name,
            description=f"Origin of the proxied Cloudflare record for {self.page_url} (docs/runbooks.md#status-page)",
        )

"""The status page's live signals (SQS DLQ depth, CloudWatch metrics) and its published objects in S3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard.dal import clients

PERIOD_S = 300  # one CloudWatch period: the job reads the last five minutes


@dataclass(frozen=True)
class Metric:
    """One CloudWatch statistic to read: `id` names it in the answer."""

    id: str
    namespace: str
    name: str
    dimensions: dict[str, str]
    stat: str  # Sum, Maximum, ...


def dlq_depth(url: str) -> int:
    """Messages waiting in a dead-letter queue (SQS ApproximateNumberOfMessages)."""
    answer = clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(answer.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))


def read_metrics(metrics: list[Metric], *, end: datetime) -> dict[str, float | None]:
    """Each metric's statistic over the period ending at `end` (None: no datapoint), in ONE GetMetricData call."""
    if not metrics:
        return {}
    queries: list[dict[str, Any]] = [
        {
            "Id": metric.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": metric.namespace,
                    "MetricName": metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions.items()],
                },
                "Period": PERIOD_S,
                "Stat": metric.stat,
            },
            "ReturnData": True,
        }
        for metric in metrics
    ]
    start = datetime.fromtimestamp(end.timestamp() - PERIOD_S, tz=end.tzinfo)
    answer = clients.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
    )
    found: dict[str, float | None] = {metric.id: None for metric in metrics}
    for result in answer.get("MetricDataResults", []):
        values = result.get("Values") or []
        if values and result.get("Id") in found:
            found[result["Id"]] = float(max(values))
    return found


def publish(bucket: str, key: str, body: bytes, *, content_type: str, max_age_s: int, stale_s: int) -> None:
    """Write one object of the static page (S3-managed encryption: Cloudflare reads it anonymously); caches may
    serve it `max_age_s`, and for `stale_s` more when the origin fails (RFC 5861 stale-if-error)."""
    clients.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=content_type,
        CacheControl=f"public, max-age={max_age_s}, stale-if-error={stale_s}",
    )

"""The Cloudflare IP drift job, invoked by its EventBridge schedule (and by `POST /_local/jobs/edge_drift`)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.logic import edge_drift
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check once; drift and a failed check are metrics with alarms, so the run itself never fails."""
    report = edge_drift.check()
    metrics.add_metric(name=edge_drift.DRIFT_METRIC, unit=MetricUnit.Count, value=report.differences)
    metrics.add_metric(name=edge_drift.CHECK_FAILED_METRIC, unit=MetricUnit.Count, value=0 if report.checked else 1)
    return report.as_dict()

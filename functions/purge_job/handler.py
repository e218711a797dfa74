"""The purge job, invoked by its EventBridge schedule (and by `POST /_local/jobs/purge` on one machine)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.logic import purge
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one purge and return its report; a failure raises, so EventBridge retries and then dead-letters it."""
    report = purge.run()
    metrics.add_metric(name="ItemsPurged", unit=MetricUnit.Count, value=report.total)
    logger.info("purge finished", extra={"deleted": report.deleted, "total": report.total})
    return report.model_dump()

"""The KEK migration job, invoked by its EventBridge schedule (and by `POST /_local/jobs/kek_migration`)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Rewrap what is left; a failure raises, so EventBridge retries (and the job's error alarm fires)."""
    from switchboard.logic import kek_migration  # noqa: PLC0415 - PynamoDB loads with the first run

    report = kek_migration.run(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="DataKeysRewrapped", unit=MetricUnit.Count, value=report.rewrapped)
    logger.info("kek migration finished", extra=report.model_dump())
    return report.model_dump()

"""The release job, every minute: held sends go on their queue when due; sends past validity_s expire."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run once and return the report; a failure raises, so EventBridge retries."""
    from switchboard.logic import release  # noqa: PLC0415 - PynamoDB and botocore load with the first run, not the cold import

    report = release.run()
    metrics.add_metric(name="MessagesReleased", unit=MetricUnit.Count, value=report.released)
    logger.info("release finished", extra=report.model_dump())
    return report.model_dump()

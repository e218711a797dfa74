"""The erasure job, every minute: finishes recipient erasures that stopped before their end (deadline or failure)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resume erasures until the timeout nears and return the report; a failure raises, so EventBridge retries."""
    from switchboard.logic import erasure  # noqa: PLC0415 - PynamoDB and botocore load with the first run, not the cold import

    report = erasure.run(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="ErasuresFinished", unit=MetricUnit.Count, value=report.finished)
    logger.info("erasure finished", extra=report.model_dump())
    return report.model_dump()

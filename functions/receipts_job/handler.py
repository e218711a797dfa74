"""The receipts job: messages left `sent` are checked with their carrier's status API, or marked receipt_missing."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run once and return the report; a carrier's failure is counted (checked next run), never raised."""
    from switchboard.logic import reconcile  # noqa: PLC0415 - PynamoDB and botocore load with the first run, not the cold import

    report = reconcile.run()
    metrics.add_metric(name="ReceiptsReconciled", unit=MetricUnit.Count, value=report.updated)
    logger.info("receipts reconciled", extra=report.model_dump())
    return report.model_dump()

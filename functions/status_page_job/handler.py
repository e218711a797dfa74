"""The status page job, invoked every minute by its EventBridge schedule (and by `POST /_local/jobs/status_page`)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read the live signals once, store each component's health and publish the static page."""
    from switchboard.logic import status_page  # noqa: PLC0415 - pydantic, PynamoDB and botocore load with the run

    published = status_page.refresh()
    logger.info("status page published", extra=published.as_dict())
    return published.as_dict()

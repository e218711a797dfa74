"""API Gateway REQUEST authorizer: a session token (or API key) → Allow with {account_id, principal, role, …}."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.logic import authorizer
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Allow with the principal's context, or raise Exception("Unauthorized") (→ 401)."""
    return authorizer.authorize(event)

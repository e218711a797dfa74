"""The customer console: every page under /console, rendered on the server from the public API's answers."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import switchboard.console.pages  # noqa: F401 - importing the package registers every page
from switchboard.console import app
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return app.handle(event)

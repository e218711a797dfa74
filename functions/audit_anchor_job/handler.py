"""The audit anchor job, invoked by its EventBridge schedule (and by `POST /_local/jobs/audit_anchor` locally)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.logic import audit
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Anchor every account's new audit events and return the report; a broken chain is an error (an alarm)."""
    report = audit.anchor_all()
    metrics.add_metric(name="AuditHeadsAnchored", unit=MetricUnit.Count, value=report["anchored"])
    logger.info("audit anchors written", extra=report)
    if report["broken"]:
        # Raising makes the run fail: the function's error alarm fires and EventBridge retries (still broken).
        raise audit.ChainBroken(f"audit chain broken in {len(report['broken'])} account(s): {report['broken']}")
    return report

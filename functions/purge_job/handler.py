"""The purge job, invoked by its EventBridge schedule (and by `POST /_local/jobs/purge` on one machine)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings, signals  # noqa: F401 - settings checks this function's environment at cold start
from switchboard.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one purge (stopping before the timeout) and return its report; a failure raises, so EventBridge retries.

    `{"replay": true}` (docs/runbooks.md, after any restore) replays the deletion log instead.
    """
    from switchboard.logic import purge  # noqa: PLC0415 - PynamoDB and botocore load with the first run, not the cold import

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    if event.get("replay") is True:
        replayed = purge.replay(time_left=time_left)
        metrics.add_metric(name="DeletionsReplayed", unit=MetricUnit.Count, value=replayed.replayed)
        logger.info("deletion log replayed", extra=replayed.model_dump())
        return replayed.model_dump()
    report = purge.run(time_left=time_left)
    metrics.add_metric(name="ItemsPurged", unit=MetricUnit.Count, value=report.total)
    metrics.add_metric(name="AccountsPurged", unit=MetricUnit.Count, value=report.accounts.purged)
    # Only a finished run emits it: a failed run or one that never ran leaves a gap, which alarms (docs/alarms.md).
    metrics.add_metric(name="MessagesPastRetention", unit=MetricUnit.Count, value=report.retention.messages_deleted)
    signals.count(signals.PURGE_RUNS_SUCCEEDED)
    logger.info(
        "purge finished",
        extra={
            "deleted": report.deleted,
            "total": report.total,
            "accounts_purged": report.accounts.purged,
            "accounts_pending": report.accounts.pending,
            "retention": report.retention.model_dump(),
            "complete": report.complete,
        },
    )
    return report.model_dump()

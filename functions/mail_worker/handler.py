"""Sends platform e-mail from the Mail queue and does the signup and reset work behind it (failures: retry, DLQ)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.models.queues import MailQueueRecord
from switchboard.observability import logger, metrics, tracer

# A record that is not a JSON object fails validation alone (and reaches the DLQ in time). The model declares the
# SqsRecordModel fields BatchProcessor reads, without importing Powertools' parser (hence the ignore).
processor = BatchProcessor(
    event_type=EventType.SQS,
    model=MailQueueRecord,  # type: ignore[arg-type]
    raise_on_entire_batch_failure=False,
)


@tracer.capture_method
def record_handler(record: MailQueueRecord) -> None:
    """One record; raising marks it failed, so the event source leaves it on the queue."""
    from switchboard.logic import mailer  # noqa: PLC0415 - botocore and the stores load with the first record

    mailer.process(record.body, first_attempt=record.attributes.ApproximateReceiveCount <= 1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch entry point with partial failures (ReportBatchItemFailures)."""
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

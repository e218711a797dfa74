"""Delivers customer webhooks from the Callbacks queue, tenants isolated; a job not delivered stays queued (R42)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.models.webhooks import CallbackQueueRecord
from switchboard.observability import logger, metrics, tracer

# A batch whose every delivery failed is still a normal answer: the failures are reported, not raised (the
# function must not error and alarm because customers' endpoints are down). Each record is parsed once, here: a
# malformed job fails alone (and reaches the DLQ in time).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _deliver_all(event: dict[str, Any]) -> dict[str, str | ValidationError]:
    """Every well-formed job of the batch delivered at once (webhooks.deliver_batch): outcome by message id; a
    malformed job's outcome is its validation error."""
    from switchboard.logic import webhooks  # noqa: PLC0415 - PynamoDB and botocore load with the first batch

    outcomes: dict[str, str | ValidationError] = {}
    queued: dict[str, webhooks.Queued] = {}
    for raw in event.get("Records", []):
        try:
            record = CallbackQueueRecord.model_validate(raw)
        except ValidationError as error:
            outcomes[str(raw.get("messageId"))] = error
            continue
        queued[record.messageId] = webhooks.Queued(
            record.body, record.attributes.ApproximateReceiveCount, record.receiptHandle
        )
    outcomes.update(zip(queued, webhooks.deliver_batch(list(queued.values())), strict=True))
    return outcomes


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch entry point with partial failures (ReportBatchItemFailures): each record's outcome is its own."""
    from switchboard.logic import webhooks  # noqa: PLC0415 - PynamoDB and botocore load with the first batch, not the cold import

    outcomes = _deliver_all(event)

    def record_handler(record: SQSRecord) -> str:
        """Raising marks the record failed: the event source leaves it on the queue (hidden until its retry)."""
        outcome = outcomes[record.message_id]
        if isinstance(outcome, ValidationError):
            raise outcome
        if outcome not in webhooks.DONE:
            raise webhooks.DeliveryFailed(f"{record.message_id}: {outcome}")
        return outcome

    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

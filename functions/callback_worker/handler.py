"""Delivers customer webhooks from the Callbacks queue, tenants isolated; a job not delivered stays queued (R42)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from switchboard.logic import webhooks
from switchboard.models.webhooks import DeliveryJob
from switchboard.observability import logger, metrics, tracer

# A batch whose every delivery failed is still a normal answer: the failures are reported, not raised (the
# function must not error and alarm because customers' endpoints are down).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _deliver_all(event: dict[str, Any]) -> dict[str, str]:
    """Every well-formed job of the batch delivered at once (webhooks.deliver_batch): outcome by message id."""
    queued: dict[str, webhooks.Queued] = {}
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            job = DeliveryJob.model_validate_json(record.body)
        except ValidationError:
            continue  # record_handler raises the same error: that record alone fails
        attempt = int(record.attributes.approximate_receive_count)
        queued[record.message_id] = webhooks.Queued(job, attempt, record.receipt_handle)
    return dict(zip(queued, webhooks.deliver_batch(list(queued.values())), strict=True))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch entry point with partial failures (ReportBatchItemFailures): each record's outcome is its own."""
    outcomes = _deliver_all(event)

    def record_handler(record: SQSRecord) -> str:
        """Raising marks the record failed: the event source leaves it on the queue (hidden until its retry)."""
        DeliveryJob.model_validate_json(record.body)  # a malformed job fails here (and reaches the DLQ in time)
        outcome = outcomes[record.message_id]
        if outcome not in webhooks.DONE:
            raise webhooks.DeliveryFailed(f"{record.message_id}: {outcome}")
        return outcome

    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

"""Delivers customer webhooks from the Callbacks queue; a failed attempt stays queued with its backoff (R42)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.logic import webhooks
from switchboard.models.webhooks import DeliveryJob
from switchboard.observability import logger, metrics, tracer

# A batch whose every delivery failed is still a normal answer: the failures are reported, not raised (the
# function must not error and alarm because customers' endpoints are down).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """One attempt; raising marks the record failed, so the event source leaves it on the queue."""
    job = DeliveryJob.model_validate_json(record.body)
    logger.append_keys(
        account_id=job.account_id, endpoint_id=job.endpoint_id, message_id=job.message_id, event_id=job.event_id
    )
    webhooks.deliver(
        job, attempt=int(record.attributes.approximate_receive_count), receipt_handle=record.receipt_handle
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch entry point with partial failures (ReportBatchItemFailures)."""
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

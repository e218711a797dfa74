"""Fetches call recordings and inbound messages' files from the carriers and keeps them sealed like files."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import (
    catalog,
    settings,  # noqa: F401 - checks this function's environment as the cold start imports it
)
from switchboard.models.queues import CarrierMediaQueueRecord
from switchboard.observability import logger, metrics, tracer

MAX_RECEIVES = catalog.queue("CarrierMedia").max_receive_count
# A record that fails (a fetch or a carrier delete that did not work) stays on the queue: retried, then the DLQ.
processor = BatchProcessor(
    event_type=EventType.SQS,
    model=CarrierMediaQueueRecord,  # type: ignore[arg-type]
    raise_on_entire_batch_failure=False,
)


@tracer.capture_method
def record_handler(record: CarrierMediaQueueRecord) -> None:
    """One job (a recording, or an inbound message's files); raising marks it failed, so the event source leaves it
    on the queue."""
    from switchboard.carriers import registry  # noqa: PLC0415 - botocore and the stores load with the first record
    from switchboard.logic import inbound_media, recordings  # noqa: PLC0415

    job = record.body
    logger.append_keys(account_id=job.account_id, message_id=job.message_id)
    if job.kind == "inbound_media":
        # The last receive before the DLQ settles what is still failing, so the message's webhook always goes.
        last = record.attributes.ApproximateReceiveCount >= MAX_RECEIVES
        source = registry.media_source(job.carrier)
        outcome = inbound_media.collect(job.model_dump(), source=source, final_attempt=last)
    else:
        outcome = recordings.collect(job.model_dump(), source=registry.recording_source(job.carrier))
    logger.info("carrier media", extra={"outcome": outcome, "kind": job.kind})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch entry point with partial failures (ReportBatchItemFailures)."""
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

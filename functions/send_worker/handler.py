"""Send worker: one deployed function per channel queue; a batch's carrier calls run concurrently."""

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import settings  # noqa: F401 - checks this function's environment as the cold start imports it
from switchboard.models.messages import SendQueueRecord
from switchboard.observability import logger, metrics, tracer

# Every record failing is still a partial response: the event source retries exactly those records. Each record is
# parsed once, in its delivery thread: one whose body is not a send record fails alone (and reaches the DLQ in time).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
MAX_THREADS = 10


def _deliver(raw: dict[str, Any]) -> BaseException | None:
    from switchboard.logic import sending  # noqa: PLC0415 - loaded by lambda_handler before the threads start

    try:
        record = SendQueueRecord.model_validate(raw)
        send = record.body
        logger.append_keys(account_id=send.account_id, message_id=send.message_id)
        outcome = sending.deliver(send, receive_count=record.attributes.ApproximateReceiveCount)
        logger.info("record done", extra={"outcome": outcome})
    except Exception as error:
        return error
    return None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Deliver every record at once (SQS is at-least-once: deliver is idempotent), report the failed ones."""
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    # PynamoDB and botocore load with the first batch, not the cold import (and once, before the threads start).
    from switchboard.logic import sending  # noqa: F401, PLC0415

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_THREADS, len(records)))) as pool:
        # Each record's thread runs in a copy of this invocation's context (its settings scope and log keys).
        futures = [pool.submit(contextvars.copy_context().run, _deliver, r) for r in records]
        errors = {r["messageId"]: f.result() for r, f in zip(records, futures, strict=True)}

    def record_handler(record: SQSRecord) -> None:
        error = errors.get(record.message_id)
        if error is not None:
            raise error

    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )
    return response

"""One SQS record as the event source hands it to a queue consumer, its body parsed by the queue's own model.

BatchProcessor(model=...) validates each record with these before the record handler sees it; a record that does
not validate fails alone (`batchItemFailures`), is retried and reaches its dead-letter queue in time. They declare
only the fields the consumers read, so no function pays for importing Powertools' parser models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Json


class QueueAttributes(BaseModel):
    """The system attributes the consumers read."""

    ApproximateReceiveCount: int = 1  # how often SQS handed the record out, this time included


class QueueRecord(BaseModel):
    """The envelope of one record (Powertools' SqsRecordModel field names, which BatchProcessor reads)."""

    messageId: str
    receiptHandle: str
    attributes: QueueAttributes = QueueAttributes()


class MailQueueRecord(QueueRecord):
    """A Mail queue record: a JSON object whose `type` names the work (switchboard.logic.mailer)."""

    body: Json[dict[str, Any]]


class CarrierMediaJob(BaseModel):
    """What media_worker does with one file a carrier keeps for us (switchboard.logic.recordings)."""

    kind: str  # "recording"
    account_id: str
    message_id: str
    carrier: str
    recording_ref: str
    keep: bool  # False: a recording we never asked for, only deleted at the carrier


class CarrierMediaQueueRecord(QueueRecord):
    """A CarrierMedia queue record."""

    body: Json[CarrierMediaJob]

"""One SQS record as the event source hands it to a queue consumer, its body parsed by the queue's own model.

BatchProcessor(model=...) validates each record with these before the record handler sees it; a record that does
not validate fails alone (`batchItemFailures`), is retried and reaches its dead-letter queue in time. They declare
only the fields the consumers read, so no function pays for importing Powertools' parser models.
"""

from __future__ import annotations

from typing import Any, Literal

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
    """What media_worker does with files a carrier keeps for us: a call recording (switchboard.logic.recordings) or
    an inbound message's files (switchboard.logic.inbound_media; the handles are read sealed from the message)."""

    kind: Literal["recording", "inbound_media"]
    account_id: str
    message_id: str  # the call (msg_…), or the inbound message (inb_…)
    carrier: str
    recording_ref: str = ""  # recording only
    keep: bool = False  # recording: False for one we never asked for, only deleted at the carrier
    keyword: str | None = None  # inbound_media: the keyword the message was (stop, start, help), for its webhook


class CarrierMediaQueueRecord(QueueRecord):
    """A CarrierMedia queue record."""

    body: Json[CarrierMediaJob]

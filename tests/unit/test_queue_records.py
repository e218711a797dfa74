"""Queue consumers parse their records with BatchProcessor(model=...): a record that is not the queue's own kind
fails alone (batchItemFailures), the others reach the handler parsed."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from switchboard.dal import queues
from switchboard.models.messages import SendQueueRecord, SendRecord
from switchboard.models.queues import MailQueueRecord, QueueRecord
from switchboard.models.webhooks import CallbackQueueRecord, DeliveryJob

JOB = DeliveryJob(
    account_id="acct_1", message_id="msg_1", event_id="evt_1", event_type="message.status", sealed_event="s"
)
GOOD = {
    SendQueueRecord: queues.record("acct_1", "msg_1"),
    CallbackQueueRecord: JOB.model_dump_json(exclude_none=True),
    MailQueueRecord: '{"type": "email", "to": "a@example.com"}',
}
MALFORMED = ("not json", "[1]", '{"account_id": 1, "message_id": "msg_1"}', "")


def _record(message_id: str, body: str, receives: str = "2") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": receives},
        "eventSource": "aws:sqs",
    }


def test_a_send_record_is_ids_only_in_one_compact_form() -> None:
    assert queues.record("acct_1", "msg_1") == '{"account_id":"acct_1","message_id":"msg_1"}'
    parsed = SendQueueRecord.model_validate(_record("m1", queues.record("acct_1", "msg_1"), receives="3"))
    assert parsed.body == SendRecord(account_id="acct_1", message_id="msg_1")
    assert (parsed.messageId, parsed.receiptHandle, parsed.attributes.ApproximateReceiveCount) == ("m1", "handle-m1", 3)


@pytest.mark.parametrize("model", list(GOOD), ids=lambda m: m.__name__)
def test_a_malformed_record_fails_alone_and_the_rest_is_handled_parsed(model: type[QueueRecord]) -> None:
    processor = BatchProcessor(event_type=EventType.SQS, model=model, raise_on_entire_batch_failure=False)  # type: ignore[arg-type]
    handled: list[tuple[str, Any]] = []

    def record_handler(record: Any) -> None:
        handled.append((record.messageId, record.body))

    bodies = {"good": GOOD[model], **{f"bad{n}": body for n, body in enumerate(MALFORMED)}}
    if model is MailQueueRecord:
        del bodies["bad2"]  # any JSON object is a mail record: mailer.process judges its fields
    event = {"Records": [_record(message_id, body) for message_id, body in bodies.items()]}
    result = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=None)
    assert sorted(str(f["itemIdentifier"]) for f in result["batchItemFailures"]) == sorted(set(bodies) - {"good"})
    assert [message_id for message_id, _ in handled] == ["good"]
    assert not isinstance(handled[0][1], str)  # the body arrives parsed by the queue's model

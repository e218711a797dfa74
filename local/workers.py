"""Queue workers: long-poll each consumed queue and invoke its function with SQS event batches, as Lambda does."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from local.lambdas import Invoker
from local.provision import REGION, queue_arn, queue_name
from switchboard import catalog

log = logging.getLogger("local")

WAIT_S = 1  # long-poll wait: short, so shutdown never waits long
MAX_BATCH = 10  # SQS ReceiveMessage returns at most 10 messages


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    # ReceiveMessage's MessageAttributes → the Lambda event's camelCase shape.
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }


def sqs_event(messages: Iterable[dict[str, Any]], arn: str) -> dict[str, Any]:
    """The event the SQS event source sends for a batch of received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {k: _attribute(v) for k, v in m.get("MessageAttributes", {}).items()},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def failed_ids(result: Any, message_ids: set[str]) -> set[str]:
    """Which records to keep for a retry, as the event source reads `batchItemFailures` (ReportBatchItemFailures)."""
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return set()
    if not isinstance(failures, list):
        return message_ids
    ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    if not all(isinstance(i, str) and i in message_ids for i in ids):
        return message_ids  # a malformed or unknown identifier fails the whole batch, as Lambda does
    return {i for i in ids if isinstance(i, str)}


@dataclass
class QueueWorker:
    """One event source mapping: a queue, the function it invokes, and the batch size."""

    function: catalog.Function
    queue_url: str
    arn: str  # the queue's ARN, as `eventSourceARN` names it
    invoker: Invoker
    sqs: Any
    wait_s: int = WAIT_S

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many records were handed to the function."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.function.batch_size, MAX_BATCH),
            WaitTimeSeconds=self.wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            return 0
        ids = {m["MessageId"] for m in messages}
        try:
            failed = failed_ids(self.invoker.run(self.function, sqs_event(messages, self.arn)), ids)
        except Exception as error:
            # The whole batch stays on the queue; it comes back after the visibility timeout (then the DLQ).
            log.exception("worker failed", extra={"function": self.function.name, "error_type": type(error).__name__})
            failed = ids
        done = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
            for n, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as error:
                # The queue endpoint went away (shutdown) or hiccupped: back off briefly and retry.
                log.warning("poll failed", extra={"function": self.function.name, "error_type": type(error).__name__})
                stop.wait(1.0)


def workers(
    functions: Iterable[catalog.Function], queue_urls: dict[str, str], invoker: Invoker, sqs: Any
) -> list[QueueWorker]:
    """A worker for every function that consumes a queue."""
    return [
        QueueWorker(fn, queue_urls[fn.consumes], queue_arn(queue_name(catalog.queue(fn.consumes))), invoker, sqs)
        for fn in functions
        if fn.consumes
    ]


def settle(sqs: Any, queue_url: str, *, timeout_s: float = 10.0) -> bool:
    """Wait until the queue has nothing waiting or in flight (its worker is done); False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while True:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        if not any(int(attributes.get(name, 0)) for name in names):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)

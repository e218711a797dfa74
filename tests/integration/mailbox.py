"""The Mail queue under moto: mail_worker runs on what requests enqueued, as the event source would run it."""

from __future__ import annotations

import os
from typing import Any

import boto3

from functions.mail_worker import handler as mail_worker
from local import provision, workers
from switchboard import catalog
from tests.integration.conftest import Context

QUEUE = catalog.queue("Mail")


def url(*, dead_letter: bool = False) -> str:
    """The Mail queue's URL (or its DLQ's)."""
    if not dead_letter:
        return os.environ[QUEUE.env]
    name = provision.queue_name(QUEUE, dead_letter=True)
    return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def drain(*, rounds: int = 50) -> int:
    """Run mail_worker on the Mail queue until it is empty; a failed record is visible again at once (as if its
    visibility timeout had passed), so the redrive policy moves it to the DLQ after max_receive_count receives.
    Returns how many records mail_worker was handed."""
    sqs = boto3.client("sqs")
    handed = 0
    arn = provision.queue_arn(provision.queue_name(QUEUE))
    for _ in range(rounds):
        received = sqs.receive_message(
            QueueUrl=url(), MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        messages: list[dict[str, Any]] = received.get("Messages", [])
        if not messages:
            return handed
        handed += len(messages)
        ids = {m["MessageId"] for m in messages}
        failed = workers.failed_ids(mail_worker.lambda_handler(workers.sqs_event(messages, arn), Context()), ids)
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=url(), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=url(), ReceiptHandle=message["ReceiptHandle"])
    return handed


def dead_letters() -> list[dict[str, Any]]:
    """The records in the Mail queue's DLQ (left there)."""
    received = boto3.client("sqs").receive_message(
        QueueUrl=url(dead_letter=True), MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return list(received.get("Messages", []))

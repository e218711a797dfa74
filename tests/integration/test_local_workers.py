"""Queue workers under moto: SQS event batches, batchItemFailures, visibility timeouts and redrive to the DLQ."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest

from local import provision
from local.lambdas import Invoker
from local.workers import QueueWorker, failed_ids, workers
from switchboard import catalog

QUEUE = catalog.Queue(
    id="FakeWork", env="FAKE_QUEUE_URL", purpose="test-only", visibility_timeout_s=1, max_receive_count=2
)
CONSUMER = catalog.Function(name="fake_consumer", description="test-only consumer", consumes="FakeWork", batch_size=5)


class Consumer:
    """A test-only worker handler: fails the records whose body says so, or the whole batch."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.crash = False

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.batches.append(event["Records"])
        if self.crash:
            raise RuntimeError("boom")
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if json.loads(r["body"]).get("fail")]
        return {"batchItemFailures": failures}


@pytest.fixture
def queues(aws: dict[str, str]) -> dict[str, str]:
    sqs = boto3.client("sqs")
    urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests([QUEUE])}
    return {"queue": urls[provision.queue_name(QUEUE)], "dlq": urls[provision.queue_name(QUEUE, dead_letter=True)]}


def worker(queues: dict[str, str], consumer: Consumer) -> QueueWorker:
    arn = provision.queue_arn(provision.queue_name(QUEUE))
    return QueueWorker(CONSUMER, queues["queue"], arn, Invoker(lambda _: consumer.handler), boto3.client("sqs"), 0)


def send(queues: dict[str, str], *bodies: dict[str, Any]) -> None:
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=queues["queue"],
            MessageBody=json.dumps(body),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )


def count(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_worker_sends_a_real_sqs_event_batch(queues: dict[str, str]) -> None:
    consumer = Consumer()
    send(queues, {"n": 1}, {"n": 2})
    assert worker(queues, consumer).poll_once() == 2
    records = consumer.batches[0]
    assert [json.loads(r["body"]) for r in records] == [{"n": 1}, {"n": 2}]
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == provision.queue_arn(provision.queue_name(QUEUE))
    assert record["awsRegion"] == "eu-west-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert {"messageId", "receiptHandle", "md5OfBody"} <= set(record)
    assert count(queues["queue"]) == 0  # every record succeeded: all deleted


def test_worker_keeps_only_the_failed_records_for_a_retry(queues: dict[str, str]) -> None:
    consumer = Consumer()
    send(queues, {"n": 1}, {"n": 2, "fail": True}, {"n": 3})
    worker(queues, consumer).poll_once()
    assert count(queues["queue"]) == 1
    time.sleep(1.2)  # the visibility timeout
    worker(queues, consumer).poll_once()
    [retried] = consumer.batches[1]
    assert json.loads(retried["body"]) == {"n": 2, "fail": True}
    assert retried["attributes"]["ApproximateReceiveCount"] == "2"


def test_worker_leaves_the_whole_batch_when_the_handler_raises(queues: dict[str, str]) -> None:
    consumer = Consumer()
    consumer.crash = True
    send(queues, {"n": 1}, {"n": 2})
    worker(queues, consumer).poll_once()
    assert count(queues["queue"]) == 2


def test_worker_failures_end_in_the_dead_letter_queue_after_max_receive_count(queues: dict[str, str]) -> None:
    consumer = Consumer()
    send(queues, {"n": 1, "fail": True})
    for _ in range(QUEUE.max_receive_count):
        assert worker(queues, consumer).poll_once() == 1
        time.sleep(1.2)
    assert worker(queues, consumer).poll_once() == 0  # moto's redrive moved it on this receive
    assert count(queues["dlq"]) == 1
    assert len(consumer.batches) == QUEUE.max_receive_count


def test_worker_thread_processes_messages_and_stops_promptly(queues: dict[str, str]) -> None:
    consumer = Consumer()
    send(queues, {"n": 1})
    stop = threading.Event()
    thread = threading.Thread(target=worker(queues, consumer).run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while not consumer.batches and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert len(consumer.batches) == 1


def test_workers_are_created_for_consumers_only(queues: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A test-only catalog entry beside the catalog's own consumers (e.g. callback_worker).
    monkeypatch.setattr(catalog, "QUEUES", (*catalog.QUEUES, QUEUE))
    urls = {spec.id: f"https://sqs.local/{spec.id}" for spec in catalog.QUEUES} | {"FakeWork": queues["queue"]}
    functions = [*catalog.FUNCTIONS, CONSUMER]
    made = workers(functions, urls, Invoker(), boto3.client("sqs"))
    assert [(w.function.name, w.queue_url, w.arn) for w in made] == [
        (fn.name, urls[fn.consumes], provision.queue_arn(provision.queue_name(catalog.queue(fn.consumes))))
        for fn in functions
        if fn.consumes
    ]
    assert ("fake_consumer", queues["queue"], provision.queue_arn("switchboard-local-FakeWork")) in [
        (w.function.name, w.queue_url, w.arn) for w in made
    ]
    assert {w.function.name for w in made}.isdisjoint({fn.name for fn in functions if not fn.consumes})


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),  # unknown id: the whole batch fails
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": "a"}, {"a", "b"}),
    ],
)
def test_failed_ids_reads_batch_item_failures_as_lambda_does(result: Any, expected: set[str]) -> None:
    assert failed_ids(result, {"a", "b"}) == expected

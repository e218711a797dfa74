"""Our SQS queues: the send queues (one per channel; a record carries ids only) and the one batch sender."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard import catalog, settings
from switchboard.dal import clients
from switchboard.models.messages import SendRecord

BATCH_MAX = 10  # SendMessageBatch takes at most 10 entries
MAX_DELAY_S = 900  # SQS DelaySeconds ceiling: later sends are held and released by release_job


CALLBACKS = "callbacks"  # the Callbacks queue (webhook delivery jobs), beside the channels' send queues


def spec(queue: str) -> catalog.Queue:
    """The catalog's declaration of a queue we send to: a channel's send queue, or the Callbacks queue."""
    if any(q.id == queue for q in catalog.QUEUES):
        return catalog.queue(queue)  # named as the catalog names it (CarrierMedia)
    return catalog.queue(f"{queue.capitalize()}Send" if queue in catalog.CHANNELS else queue.capitalize())


def _url(queue: str) -> str:
    return settings.get().queue(spec(queue).env)


def record(account_id: str, message_id: str) -> str:
    """The queue record of one message."""
    return SendRecord(account_id=account_id, message_id=message_id).model_dump_json()


def send(channel: str, account_id: str, message_id: str, *, delay_s: int = 0) -> None:
    """Enqueue one message (SendMessage)."""
    clients.client("sqs").send_message(
        QueueUrl=_url(channel), MessageBody=record(account_id, message_id), DelaySeconds=min(MAX_DELAY_S, delay_s)
    )


def send_batch(channel: str, account_id: str, message_ids: Sequence[str]) -> None:
    """Enqueue many messages of one account on its channel's queue (send_all)."""
    send_all(channel, [record(account_id, message_id) for message_id in message_ids])


def send_all(queue: str, bodies: Sequence[str]) -> None:
    """Send every body to a queue, 10 per SendMessageBatch; entries SQS refused are retried once, then raise."""
    sqs: Any = clients.client("sqs")
    url = _url(queue)
    for start in range(0, len(bodies), BATCH_MAX):
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + BATCH_MAX])]
        for _ in range(2):
            failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        else:
            raise RuntimeError(f"SQS refused {len(entries)} of the records for the {queue} queue")


def change_visibility(queue: str, receipt_handle: str, seconds: int) -> None:
    """Hide a received record for `seconds` more: its next attempt happens then (SQS allows at most 12 h)."""
    clients.client("sqs").change_message_visibility(
        QueueUrl=_url(queue), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )

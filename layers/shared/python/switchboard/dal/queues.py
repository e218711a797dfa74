"""The send queues: one per channel; a record carries ids only (no number, no body)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from switchboard import settings
from switchboard.dal import clients

BATCH_MAX = 10  # SendMessageBatch takes at most 10 entries
MAX_DELAY_S = 900  # SQS DelaySeconds ceiling: later sends are held and released by release_job


def _url(channel: str) -> str:
    return settings.get().queue(f"{channel.upper()}_QUEUE_URL")


def record(account_id: str, message_id: str) -> str:
    """The queue record of one message."""
    return json.dumps({"account_id": account_id, "message_id": message_id}, separators=(",", ":"))


def send(channel: str, account_id: str, message_id: str, *, delay_s: int = 0) -> None:
    """Enqueue one message (SendMessage)."""
    clients.client("sqs").send_message(
        QueueUrl=_url(channel), MessageBody=record(account_id, message_id), DelaySeconds=min(MAX_DELAY_S, delay_s)
    )


def send_batch(channel: str, account_id: str, message_ids: Sequence[str]) -> None:
    """Enqueue many messages, 10 per SendMessageBatch; entries SQS refused are retried once, then raise."""
    sqs: Any = clients.client("sqs")
    url = _url(channel)
    for start in range(0, len(message_ids), BATCH_MAX):
        entries = [
            {"Id": str(n), "MessageBody": record(account_id, message_id)}
            for n, message_id in enumerate(message_ids[start : start + BATCH_MAX])
        ]
        for _ in range(2):
            failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        else:
            raise RuntimeError(f"SQS refused {len(entries)} send records")

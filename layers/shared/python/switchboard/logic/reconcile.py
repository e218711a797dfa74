"""The receipts job: messages still `sent` past receipt_check_after_s are checked with their carrier, or marked."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

from switchboard import clock, settings
from switchboard.carriers import registry
from switchboard.carriers.base import CarrierError, StatusSource
from switchboard.dal import messages as store
from switchboard.dal.messages import Message
from switchboard.logic import receipts
from switchboard.logic.repositories import ReceiptStore
from switchboard.models.message_status import RANK
from switchboard.observability import logger, metrics

MAX_PER_RUN = 480  # 30 per shard; 8 status calls at a time of at most 1 s each: a minute at worst
PAGE = 50
THREADS = 8
RECEIPT_MISSING = "receipt_missing"


class ReconcileReport(BaseModel):
    """What one run did."""

    checked: int = 0
    updated: int = 0  # the carrier's status API settled the message (delivered, failed, ...)
    in_flight: int = 0  # the carrier says it is still on its way: checked again a period later
    receipt_missing: int = 0  # no receipt and no status to be had: marked, status left `sent`
    retry: int = 0  # the carrier's API failed: checked again next run


def _source(carrier: str) -> StatusSource | None:
    try:
        adapter: Any = registry.carrier(carrier)
    except KeyError:  # e.g. a sandbox carrier's message seen in a stage without them
        return None
    return adapter if hasattr(adapter, "status") else None


Sources = Callable[[str], StatusSource | None]  # a carrier's status API, if it has one


def _missing(message: Message, detail: str, messages: ReceiptStore) -> str:
    error = {"code": RECEIPT_MISSING, "detail": detail}
    marked = messages.mark_receipt_missing(
        message.account_id, message.message_id, error=error, at=clock.rfc3339(clock.now())
    )
    return "receipt_missing" if marked is not None else "updated"


def check(
    item: Message,
    *,
    messages: ReceiptStore = store,
    sources: Sources = _source,
    publish: receipts.Publish | None = None,
) -> str:
    """Settle one `sent` message from its carrier's status API; the report field its outcome counts in."""
    carrier, channel = item.carrier or "", item.channel
    carrier_message_id = item.carrier_message_id or ""
    source = sources(carrier)
    if source is None or not carrier_message_id:
        return _missing(item, f"No receipt from {carrier or 'the carrier'}, which has no status API to ask.", messages)
    try:
        found = source.status(carrier_message_id, channel)
    except CarrierError as error:
        logger.warning("status API failed", extra={"carrier": carrier, "error_type": type(error).__name__})
        return "retry"
    if found is None:
        return _missing(item, f"No receipt from {carrier}, whose status API has no status for this message.", messages)
    now = int(clock.timestamp())
    if RANK.get(found.status, 0) > RANK["sent"]:
        receipts.apply_status(
            (item.account_id, item.message_id),
            found.status,
            found.error_code,
            carrier,
            messages=messages,
            publish=publish,
        )
        return "updated"
    rules = settings.get()
    if now - (item.sent_at_s or 0) >= rules.receipt_give_up_s:
        return _missing(item, f"No receipt from {carrier}, which still reports the message in flight.", messages)
    messages.recheck_sent(item.account_id, item.message_id, due=now + rules.receipt_check_after_s)
    return "in_flight"


def due(until: int, *, messages: ReceiptStore = store) -> list[Message]:
    """The messages due for a check, an equal share from each shard (none starves another), page by page."""
    share = max(1, MAX_PER_RUN // store.SENT_SHARDS)
    found: list[Message] = []
    for shard in range(store.SENT_SHARDS):
        taken, cursor = 0, None
        while taken < share:
            items, cursor = messages.due_sent(shard, until, limit=min(PAGE, share - taken), cursor=cursor)
            taken += len(items)
            # The index is eventually consistent: a message a receipt settled a moment ago may still show.
            found += [i for i in items if i.status == "sent"]
            if cursor is None:
                break
    return found


def _safe_check(item: Message) -> str:
    try:
        return check(item)
    except Exception:
        # One message's trouble (a throttled write, a key KMS will not open) must not stop the others: it stays on
        # the index and is checked next run.
        logger.warning("reconciliation of a message failed", exc_info=True, extra={"message_id": item.message_id})
        return "retry"


def run() -> ReconcileReport:
    """Check every message due (at most MAX_PER_RUN a run); idempotent: a settled message leaves the index."""
    report = ReconcileReport()
    pending = due(int(clock.timestamp()))
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        # Each check runs in a copy of this invocation's context (its settings scope and log keys).
        futures = [pool.submit(contextvars.copy_context().run, _safe_check, item) for item in pending]
        outcomes = [future.result() for future in futures]
    report.checked = len(pending)
    for outcome in outcomes:
        setattr(report, outcome, getattr(report, outcome) + 1)
    metrics.add_metric(name="ReceiptsMissing", unit="Count", value=report.receipt_missing)
    return report

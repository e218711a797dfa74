"""The release job: puts held sends on their queue once they are due within SQS's delay; expires stale ones."""

from __future__ import annotations

from pydantic import BaseModel

from switchboard import clock
from switchboard.dal import messages as store
from switchboard.dal import queues
from switchboard.dal.messages import HeldEntry, ResumeRequest
from switchboard.logic import messages as messages_logic
from switchboard.logic import sending, standing
from switchboard.models.message_status import FINAL, RANK

MAX_PER_RUN = 1000


class ReleaseReport(BaseModel):
    """What one run did."""

    released: int = 0
    expired: int = 0
    held: int = 0  # their account may not act (closed, suspended): kept until a restore
    resumed: int = 0  # held items handed back after a restore
    skipped: int = 0  # canceled or already sent meanwhile


def run() -> ReleaseReport:
    """Release every held message due within 15 minutes (delayed to its send_at) and expire those past validity."""
    report = ReleaseReport()
    standings = standing.Memo()
    horizon = int(clock.timestamp()) + queues.MAX_DELAY_S
    seen = 0
    while seen < MAX_PER_RUN:
        due = store.due_held(horizon)
        if not due:
            break
        for held in due:
            seen += 1
            _one(held, standings, report)
    return report


def _one(held: HeldEntry, standings: standing.Memo, report: ReleaseReport) -> None:
    account_id = held.account_id
    if isinstance(held, ResumeRequest):
        standings.forget(account_id)
        report.resumed += standing.release(account_id, held.token)
        return
    message_id = held.message_id
    item = store.get(account_id, message_id)
    if item is None:
        return
    if item.status in FINAL or RANK[item.status] >= RANK["sent"]:
        store.unhold(account_id, message_id)  # canceled (or sent) meanwhile: nothing to release
        report.skipped += 1
        return
    if standings.of(account_id) is not standing.Standing.ACTIVE:
        # Closed or suspended: off this index until a restore; a purge removes it with the account.
        report.held += standing.hold_message(item)
        return
    if item.valid_until is not None and clock.timestamp() > float(item.valid_until):
        sending.expire(item)
        report.expired += 1
    else:
        # Enqueue first: a crash before unhold only means a second record, which the worker ignores.
        messages_logic.enqueue(store.forget_hold(item))
        report.released += 1
    store.unhold(account_id, message_id)

"""The release job: puts held sends on their queue once they are due within SQS's delay; expires stale ones."""

from __future__ import annotations

from pydantic import BaseModel

from switchboard import clock
from switchboard.dal import messages as store
from switchboard.dal import queues
from switchboard.logic import messages as messages_logic
from switchboard.logic import sending

MAX_PER_RUN = 1000


class ReleaseReport(BaseModel):
    """What one run did."""

    released: int = 0
    expired: int = 0


def run() -> ReleaseReport:
    """Release every held message due within 15 minutes (delayed to its send_at) and expire those past validity."""
    report = ReleaseReport()
    horizon = int(clock.timestamp()) + queues.MAX_DELAY_S
    while report.released + report.expired < MAX_PER_RUN:
        due = store.due_held(horizon)
        if not due:
            break
        for held in due:
            account_id, message_id = held["account_id"], held["message_id"]
            item = store.get(account_id, message_id)
            if item is None:
                continue
            valid_until = item.get("valid_until")
            if valid_until is not None and clock.timestamp() > float(valid_until):
                sending.expire(item)
                report.expired += 1
            else:
                # Enqueue first: a crash before unhold only means a second record, which the worker ignores.
                item.pop("gsi2pk", None)
                messages_logic.enqueue(item)
                report.released += 1
            store.unhold(account_id, message_id)
    return report

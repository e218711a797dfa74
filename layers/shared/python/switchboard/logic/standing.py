"""Whether an account may act now; while it may not (closed, suspended), its outbound traffic is held, not dropped.

Every outbound path asks here: the release job (scheduled sends), the send worker (queued sends and HELP answers)
and the webhook worker (status, inbound and opt-out events, message callbacks). Inbound traffic is still recorded
and STOP still opts out: only what leaves the platform waits. `resume` (restore) hands the held traffic back to the
release job, which sends what is still valid and expires the rest.
"""

from __future__ import annotations

from enum import StrEnum

from switchboard import clock, ids
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import holds as holds_dal
from switchboard.dal import queues
from switchboard.dal.closure import ACTIVE
from switchboard.dal.messages import Message
from switchboard.models.webhooks import DeliveryJob
from switchboard.observability import logger

MAX_PAGES = 20  # pages of held items one release run moves per account


class Standing(StrEnum):
    """What an account's outbound traffic does now."""

    ACTIVE = "active"  # goes out
    HELD = "held"  # kept until a restore (pending_deletion, suspended, any status but active)
    GONE = "gone"  # the account was purged: nothing is kept for it


def of(account_id: str) -> Standing:
    """The one decision: only an `active` account acts (a consistent read, so a closure counts at once)."""
    account = accounts_dal.get_account(account_id)
    if account is None:
        return Standing.GONE
    return Standing.ACTIVE if account.status == ACTIVE else Standing.HELD


def allowed(account_id: str) -> bool:
    """True when the account's traffic may leave the platform now."""
    return of(account_id) is Standing.ACTIVE


class Memo:
    """Standings read once per account for one run of a job (a restore meanwhile is the next run's: `resume`)."""

    def __init__(self) -> None:
        self._seen: dict[str, Standing] = {}

    def of(self, account_id: str) -> Standing:
        """The account's standing, read the first time it is asked for."""
        if account_id not in self._seen:
            self._seen[account_id] = of(account_id)
        return self._seen[account_id]

    def forget(self, account_id: str) -> None:
        """Read it again next time (after a resume)."""
        self._seen.pop(account_id, None)


def hold_message(item: Message) -> bool:
    """Keep a queued (or abandoned `sending`) message off the carriers; False when a worker has it or it ended.

    Restored between the caller's check and this write? Then the resume may already have run, so the message goes
    straight back to the release job instead of waiting for a resume that will not come.
    """
    account_id, message_id = item.account_id, item.message_id
    due = int(item.send_at or clock.timestamp())
    if not holds_dal.park_message(account_id, message_id, due=due, now=clock.timestamp()):
        return False
    if allowed(account_id):
        holds_dal.unpark_message(account_id, message_id)
    return True


def hold_webhook(job: DeliveryJob) -> str | None:
    """None when the job goes on to delivery; `held` when it is kept for a restore.

    A purged account's job goes on too: nothing is kept for it, and its endpoint, message and key went with the
    account, so the delivery drops it.
    """
    if of(job.account_id) is not Standing.HELD:
        return None
    holds_dal.park_webhook_job(
        job.account_id, job.event_id, job.target_id, job.model_dump_json(exclude_none=True), at=int(clock.timestamp())
    )
    if allowed(job.account_id):
        # Restored meanwhile, and the restore's release may have run already: ask the release job for another one.
        resume(job.account_id)
    logger.info("webhook held: account may not act", extra={"account_id": job.account_id, "event_id": job.event_id})
    return "held"


def resume(account_id: str) -> None:
    """The account may act again: the release job releases its held traffic on its next run."""
    holds_dal.mark_resume(account_id, now=int(clock.timestamp()), token=ids.new_id("rsm"))


def release(account_id: str, token: str | None = None) -> int:
    """Hand an account's held traffic back (messages to the release job's index, webhook jobs to their queue) and
    clear the resume request it served (`token`); how many items moved. Closed again before this ran: everything
    stays held."""
    moved = 0
    if allowed(account_id):
        for _ in range(MAX_PAGES):
            items = holds_dal.parked(account_id)
            if not items:
                break
            for held in items:
                if isinstance(held, holds_dal.HeldWebhookJob):
                    # Queued first: a crash before the delete means one more delivery of the same event id, never none.
                    queues.send_all(queues.CALLBACKS, [held.job])
                    holds_dal.take_webhook_job(held)
                else:
                    holds_dal.unpark_message(account_id, held.message_id)
                moved += 1
        else:
            return moved  # more than one run moves: the marker stays, the next run goes on
    holds_dal.take_resume(account_id, token=token)
    return moved

"""Recipient erasure: begun at once (the recipient reads as gone), finished in pages, resumable and idempotent.

Every step is safe to repeat, and the erasure's marker (the recipient item stripped of its personal data) goes
last, so whatever stops it (a deadline, a fault, a killed function) leaves a marker the erasure job or a repeated
DELETE resumes. Its cost follows the person's own items only: their messages and inbound messages are found on gsi3
(the account and the number's blind index), never by reading the account's other messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel

from switchboard import clock
from switchboard.catalog import CHANNELS
from switchboard.dal import conversations as conversations_dal
from switchboard.dal import files as files_store
from switchboard.dal import messages as messages_dal
from switchboard.dal import recipients as store
from switchboard.dal.recipients import Recipient
from switchboard.logic import files as files_logic

TimeLeft = Callable[[], float]  # seconds left before the caller must stop
PAGE = 100
MARGIN_S = 2.0  # stop starting work with less than this left
JOB_BATCH = 25
MAX_PER_RUN = 1000


def _forever() -> float:
    return math.inf


class ErasureReport(BaseModel):
    """What one run of the erasure job finished and left for the next."""

    job: str = "erasure"
    finished: int = 0
    pending: int = 0
    items_erased: int = 0


class Stopped(Exception):
    """The deadline came before the erasure finished: its marker stays, the next attempt resumes."""


def begin(account_id: str, recipient: Recipient) -> bool:
    """Mark a live recipient as being erased (its personal data and phone lookup go at once); False if it already
    was, or is gone."""
    return store.mark_erasing(account_id, recipient.recipient_id, recipient.phone_index, int(clock.timestamp()))


def resume(account_id: str, marker: Recipient, time_left: TimeLeft = _forever) -> int:
    """Finish an erasure from wherever it stopped; the items erased. Raises Stopped near the deadline."""
    return _finish(account_id, marker.recipient_id, marker.phone_index, dict(marker.consent), time_left)


def _finish(account_id: str, recipient_id: str, phone_index: str, consent: dict[str, str], time_left: TimeLeft) -> int:
    def check() -> None:
        if time_left() <= MARGIN_S:
            raise Stopped(recipient_id)

    # STOP stays honoured: the opt-outs the marker still holds (its state when it was marked) become the tombstone.
    opted_out = [c for c, status in consent.items() if status == "opted_out"]
    store.add_tombstone(account_id, phone_index, opted_out, clock.rfc3339(clock.now()))
    check()
    erased = store.erase_ledger(account_id, recipient_id)
    erased += store.erase_memberships(account_id, recipient_id)
    erased += store.erase_windows(account_id, phone_index, CHANNELS)
    cursor: str | None = None
    while True:
        check()
        entries, cursor = messages_dal.for_phone(account_id, phone_index, cursor=cursor, limit=PAGE)
        for entry in entries:
            # A recipient created later for the same number keeps its own messages; unlinked ones were this person's.
            if entry.recipient_id not in (None, recipient_id):
                continue
            check()
            if not entry.inbound and not entry.event:
                # A recorded call to them: the recording's every object version and its item (docs/recordings.md).
                erased += files_logic.delete_file(account_id, files_store.recording_id(entry.item_id))
            for index in range(entry.media_count):
                # The files they sent: every object version, the item, the bytes from the count.
                erased += files_logic.delete_file(account_id, files_store.inbound_media_id(entry.item_id, index))
            messages_dal.erase_entry(account_id, entry)
            erased += 1
        if cursor is None:
            break
    conversations_dal.delete(account_id, recipient_id)
    store.drop_marker(account_id, recipient_id, phone_index)
    return erased


def run(time_left: TimeLeft = _forever) -> ErasureReport:
    """The erasure job: resume every marker left by an unfinished erasure, oldest first, until the deadline."""
    report = ErasureReport()
    now = int(clock.timestamp())
    seen: set[tuple[str, str]] = set()
    while report.finished < MAX_PER_RUN and time_left() > MARGIN_S:
        due = [m for m in store.erasures_due(now, limit=JOB_BATCH) if (m.account_id, m.recipient_id) not in seen]
        if not due:
            break
        for marker in due:
            seen.add((marker.account_id, marker.recipient_id))
            try:
                report.items_erased += resume(marker.account_id, marker, time_left)
            except Stopped:
                break
            report.finished += 1
    report.pending = len(store.erasures_due(now, limit=MAX_PER_RUN))
    return report

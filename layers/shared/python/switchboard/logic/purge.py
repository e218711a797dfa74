"""The scheduled purge (R60, R61): closed accounts past their grace period, then everything whose TTL has passed.

DynamoDB TTL deletes only "within a few days", so the job hard-deletes. An account is crypto-shredded first (its data
key goes, so every sealed value and blind index of it is unreadable at once), then its global lookups (found through
its own records), then every item of its account partition in every table except the append-only audit trail,
keeping messaging's opt-out tombstones (a blind index of a now-shredded key: they identify nobody). The account item
and its due entry go last, so a run that stops at its deadline is resumed by the next one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from switchboard import catalog, clock, settings
from switchboard.crypto import envelope
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import closure as closure_dal
from switchboard.dal import purge

# The audit trail is append-only: its retention is enforced by the archive, never by application deletes.
APPEND_ONLY: frozenset[str] = frozenset(t.env for t in catalog.TABLES if t.append_only)
ACCOUNT_BATCH = 10
MAX_MARGIN_S = 60.0  # stop starting work with less than this left (of Lambda's 300 s), or a fifth of a shorter budget
LOOKUPS = "lookups"

TimeLeft = Callable[[], float]


class AccountPurgeReport(BaseModel):
    """Closed accounts this run: how many were completely purged, how many wait for the next run, what went."""

    purged: int = 0
    pending: int = 0  # due but not finished (the run stopped before its deadline); the next run resumes them
    items_deleted: dict[str, int] = Field(default_factory=dict)  # per table env, plus "lookups" (global items)
    tombstones_kept: int = 0


class PurgeReport(BaseModel):
    """What one purge run deleted: expired items per table env (`deleted`, `total`) and closed accounts."""

    job: str = "purge"
    ran_at: str
    deleted: dict[str, int]
    total: int
    accounts: AccountPurgeReport
    complete: bool  # False when the deadline stopped the run early (the next run continues)


class _Deadline:
    def __init__(self, time_left: TimeLeft) -> None:
        self._time_left = time_left
        first = time_left()
        self._margin = min(MAX_MARGIN_S, first / 5) if math.isfinite(first) else 0.0

    def near(self) -> bool:
        return self._time_left() <= self._margin


def _no_deadline() -> float:
    return math.inf


def run(time_left: TimeLeft = _no_deadline) -> PurgeReport:
    """Purge due accounts, then expired items; idempotent, and stops early when `time_left()` (seconds) runs low."""
    now = clock.now()
    now_s = int(now.timestamp())
    deadline = _Deadline(time_left)
    accounts = purge_accounts(now_s, deadline)
    deleted: dict[str, int] = {}
    complete = accounts.pending == 0
    for env, table_name in sorted(settings.get().tables.items()):
        if env in APPEND_ONLY:
            continue
        deleted[env] = 0
        for key in purge.expired_keys(table_name, now_s):
            if deadline.near():
                complete = False
                break
            deleted[env] += purge.delete_if_expired(table_name, key, now_s)
    return PurgeReport(
        ran_at=clock.rfc3339(now), deleted=deleted, total=sum(deleted.values()), accounts=accounts, complete=complete
    )


def purge_accounts(now_s: int, deadline: _Deadline) -> AccountPurgeReport:
    """Every account whose `purge_after` has passed, in batches, until none is left or the deadline is near."""
    report = AccountPurgeReport()
    while not deadline.near():
        due = closure_dal.due_accounts(now_s, limit=ACCOUNT_BATCH)
        if not due:
            break
        stopped = False
        for entry in due:
            outcome = "stopped" if deadline.near() else _purge_account(entry, now_s, deadline, report)
            if outcome == "stopped":
                stopped = True
                break
            report.purged += outcome == "purged"
        if stopped:
            break
    report.pending = len(closure_dal.due_accounts(now_s, limit=1000))
    return report


def _tables() -> list[tuple[str, str]]:
    # Keyring holds only the data key, which envelope.shred deletes first.
    return [(env, name) for env, name in sorted(settings.get().tables.items()) if env not in APPEND_ONLY]


def _purge_account(due: closure_dal.Due, now_s: int, deadline: _Deadline, report: AccountPurgeReport) -> str:
    """Purge one account: "purged" (completely gone), "stale" (restored meanwhile) or "stopped" (resumable)."""
    account_id = due.account_id
    account = accounts_dal.get_account(account_id)
    if account is not None and (account.status != closure_dal.PENDING or int(account.purge_after or 0) > now_s):
        closure_dal.forget_due(account_id, due.purge_after)  # restored or re-scheduled: this entry is stale
        return "stale"
    closure_dal.open_receipt(due, started_at=now_s)
    envelope.shred(account_id)
    counts: dict[str, int] = {}
    tallies = _Tallies(counts, report)
    if not _delete_lookups(account_id, deadline, tallies) or not _delete_partitions(account_id, deadline, tallies):
        closure_dal.add_to_receipt(account_id, counts, purged_at=None)
        return "stopped"
    closure_dal.add_to_receipt(account_id, counts, purged_at=now_s)
    closure_dal.forget_due(account_id, due.purge_after)
    return "purged"


class _Tallies:
    """Deletions of one account in this run: for its receipt and for the run's report."""

    def __init__(self, counts: dict[str, int], report: AccountPurgeReport) -> None:
        self.counts = counts
        self.report = report

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self.report.items_deleted[key] = self.report.items_deleted.get(key, 0) + 1


def _delete_lookups(account_id: str, deadline: _Deadline, tallies: _Tallies) -> bool:
    """Global items that point at the account, found through its own records (which still exist); False if stopped."""
    tables = settings.get().tables
    for env, table_name in _tables():
        for item in closure_dal.account_items(env, table_name, account_id):
            if deadline.near():
                return False
            for lookup in item.lookups():
                target = tables.get(lookup.table_env)
                owner = account_id if lookup.owned else None
                if target is not None and closure_dal.delete(target, lookup.key, owned_by=owner):
                    tallies.add(LOOKUPS)
            if item.is_user:
                sessions_table = settings.get().table(closure_dal.SESSIONS_ENV)
                for key in list(closure_dal.user_session_keys(account_id, str(item.values["user_id"]))):
                    if closure_dal.delete(sessions_table, key, owned_by=account_id):
                        tallies.add(LOOKUPS)
    return True


def _delete_partitions(account_id: str, deadline: _Deadline, tallies: _Tallies) -> bool:
    """The account's partition in every table, the account item last (it marks the purge unfinished)."""
    account_key: dict[str, Any] | None = None
    for env, table_name in _tables():
        for item in closure_dal.account_items(env, table_name, account_id):
            if deadline.near():
                return False
            if item.kept:
                tallies.report.tombstones_kept += 1
            elif item.is_account:
                account_key = item.key
            elif closure_dal.delete(table_name, item.key):
                tallies.add(env)
    accounts_table = settings.get().table(closure_dal.ACCOUNTS_ENV)
    if account_key is not None and closure_dal.delete(accounts_table, account_key):
        tallies.add(closure_dal.ACCOUNTS_ENV)
    return True

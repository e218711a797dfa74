"""The scheduled purge (R60, R61): closed accounts past their grace period, then everything whose TTL has passed.

DynamoDB TTL deletes only "within a few days", so the job hard-deletes. An account is crypto-shredded first (its data
key goes, so every sealed value and blind index of it is unreadable at once), then its global lookups (found through
its own records), then every item of its account partition in every table except the append-only audit trail,
keeping messaging's opt-out tombstones (a blind index of a now-shredded key: they identify nobody). The account item
and its due entry go last, so a run that stops at its deadline is resumed by the next one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from switchboard import catalog, clock, settings
from switchboard.crypto import envelope, receipt_signing
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import closure as closure_dal
from switchboard.dal import conversations as conversations_dal
from switchboard.dal import deletion_receipts, keyring, purge
from switchboard.dal import retention as retention_dal
from switchboard.logic import files as files_logic

# The audit trail is append-only: its retention is enforced by the archive, never by application deletes.
APPEND_ONLY: frozenset[str] = frozenset(t.env for t in catalog.TABLES if t.append_only)
# The KEK table holds no account data to sweep: its KEKs go by key (envelope.shred), its deletion log by TTL.
UNSWEPT: frozenset[str] = APPEND_ONLY | frozenset(t.env for t in catalog.TABLES if not t.restorable)
ACCOUNT_BATCH = 10
MAX_MARGIN_S = 60.0  # stop starting work with less than this left (of Lambda's 300 s), or a fifth of a shorter budget
LOOKUPS = "lookups"
FILE_VERSIONS = "file_versions"  # object versions and delete markers of the account's files (the Files bucket)
DAY_S = 86400

TimeLeft = Callable[[], float]


class AccountPurgeReport(BaseModel):
    """Closed accounts this run: how many were completely purged, how many wait for the next run, what went."""

    purged: int = 0
    pending: int = 0  # due but not finished (the run stopped before its deadline); the next run resumes them
    items_deleted: dict[str, int] = Field(default_factory=dict)  # per table env, plus "lookups" (global items)
    tombstones_kept: int = 0


class RetentionReport(BaseModel):
    """R60: messages past their account's retention, hard-deleted this run."""

    accounts: int = 0  # accounts checked
    messages_deleted: int = 0  # messages and inbound messages
    items_deleted: int = 0  # with their attempts and carrier-id lookups
    held_kept: int = 0  # past retention but still held or awaiting a receipt: deleted once settled
    conversations_deleted: int = 0  # conversations with no message since the retention cutoff
    files_deleted: int = 0  # files (every version of their objects) past the same retention


class PurgeReport(BaseModel):
    """What one purge run deleted: expired items per table env (`deleted`, `total`) and closed accounts."""

    job: str = "purge"
    ran_at: str
    deleted: dict[str, int]
    total: int
    accounts: AccountPurgeReport
    retention: RetentionReport = Field(default_factory=RetentionReport)
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
    retention, swept = sweep_retention(now_s, deadline)
    deleted: dict[str, int] = {}
    complete = accounts.pending == 0 and swept
    for env, table_name in sorted(settings.get().tables.items()):
        if env in UNSWEPT:
            continue
        deleted[env] = 0
        for key in purge.expired_keys(table_name, now_s):
            if deadline.near():
                complete = False
                break
            deleted[env] += purge.delete_if_expired(table_name, key, now_s)
    return PurgeReport(
        ran_at=clock.rfc3339(now),
        deleted=deleted,
        total=sum(deleted.values()),
        accounts=accounts,
        retention=retention,
        complete=complete,
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


def sweep_retention(now_s: int, deadline: _Deadline) -> tuple[RetentionReport, bool]:
    """R60: every account's messages and inbound messages older than its retention, with their attempts and
    carrier-id lookups; idempotent (a second run finds nothing older). False when the deadline stopped it."""
    report = RetentionReport()
    messaging = settings.get().table(retention_dal.MESSAGING_ENV)
    for setting in retention_dal.accounts():
        report.accounts += 1
        if deadline.near():
            return report, False
        cutoff = now_s - setting.days * DAY_S
        report.files_deleted += files_logic.sweep(setting.account_id, cutoff)
        for item in retention_dal.expired(setting.account_id, cutoff):
            if deadline.near():
                return report, False
            if "gsi2pk" in item:  # held, or `sent` awaiting its receipt: the job that owns it must see it
                report.held_kept += 1
                continue
            report.items_deleted += _delete_message(setting.account_id, item, messaging)
            report.messages_deleted += 1
        if not _sweep_conversations(setting.account_id, cutoff, deadline, report):
            return report, False
    return report, True


def _sweep_conversations(account_id: str, cutoff: int, deadline: _Deadline, report: RetentionReport) -> bool:
    """Conversations whose last message is older than the retention (their messages are gone with it); False when
    the deadline stopped it."""
    seen: set[str] = set()
    while True:
        idle = [r for r in conversations_dal.idle_since(account_id, cutoff) if r not in seen]
        if not idle:
            return True
        for recipient_id in idle:
            if deadline.near():
                return False
            seen.add(recipient_id)
            report.conversations_deleted += conversations_dal.delete_idle(account_id, recipient_id, cutoff)


def _delete_message(account_id: str, item: dict[str, Any], messaging: str) -> int:
    """One message (its attempts and their carrier-id lookups first) or inbound message; the items deleted."""
    deleted = 0
    sk = str(item["sk"]["S"])
    if sk.startswith("MSG#"):
        message_id = sk.removeprefix("MSG#")
        for attempt in retention_dal.attempts(account_id, message_id):
            for lookup in closure_dal.lookups_of(closure_dal.MESSAGING_ENV, closure_dal.plain(attempt)):
                deleted += closure_dal.delete(messaging, lookup.key, owned_by=account_id)
            deleted += closure_dal.delete(messaging, closure_dal.key_of(attempt))
    deleted += closure_dal.delete(messaging, closure_dal.key_of(item))
    return deleted


def _tables() -> list[tuple[str, str]]:
    # Keyring holds only the data key, which envelope.shred deletes first (after the KEK).
    return [(env, name) for env, name in sorted(settings.get().tables.items()) if env not in UNSWEPT]


def _purge_account(due: closure_dal.Due, now_s: int, deadline: _Deadline, report: AccountPurgeReport) -> str:
    """Purge one account: "purged" (completely gone), "stale" (restored meanwhile) or "stopped" (resumable)."""
    account_id = due.account_id
    account = accounts_dal.get_account(account_id)
    if account is not None and (account.status != closure_dal.PENDING or int(account.purge_after or 0) > now_s):
        closure_dal.forget_due(account_id, due.purge_after)  # restored or re-scheduled: this entry is stale
        return "stale"
    closure_dal.open_receipt(due, started_at=now_s)
    # Logged before the shred: from the shred on, the account is gone, and a restore of any table must replay it.
    keyring.log_deletion(keyring.Deletion(account_id, due.purge_after, started_at=now_s))
    envelope.shred(account_id)
    counts: dict[str, int] = {}
    tallies = _Tallies(counts, report)
    # Its files' objects are noise from the shred on; every version of them goes now (by prefix: idempotent).
    versions = files_logic.purge_objects(account_id)
    if versions:
        tallies.add(FILE_VERSIONS, versions)
    if not _delete_lookups(account_id, deadline, tallies) or not _delete_partitions(account_id, deadline, tallies):
        closure_dal.add_to_receipt(account_id, counts, purged_at=None)
        return "stopped"
    closure_dal.add_to_receipt(account_id, counts, purged_at=now_s)
    signed = _sign_receipt(account_id)
    keyring.log_deletion(keyring.Deletion(account_id, due.purge_after, started_at=now_s, receipt=json.dumps(signed)))
    closure_dal.forget_due(account_id, due.purge_after)
    return "purged"


RECEIPT_FIELDS = ("account_id", "requested_at", "purge_after", "started_at", "purged_at", "runs", "deleted")


def _sign_receipt(account_id: str) -> dict[str, str]:
    """Sign the completed receipt in KMS and keep the signed copy on it (what `GET /v1/deletion-receipts/{id}`
    serves); the same copy goes into the deletion log."""
    receipt = closure_dal.get_receipt(account_id) or {}
    document = {k: receipt[k] for k in RECEIPT_FIELDS if k in receipt}
    document["deleted"] = {table: int(n) for table, n in document.get("deleted", {}).items()}
    document["retained"] = {
        "audit_events": "ids, types and times only; expire with the audit retention (docs/audit.md)",
        "opt_out_tombstones": "a blind index under the destroyed key, so STOP stays honoured; identifies nobody",
    }
    signed = receipt_signing.sign(document)
    deletion_receipts.store(account_id, signed)
    return signed


class _Tallies:
    """Deletions of one account in this run: for its receipt and for the run's report."""

    def __init__(self, counts: dict[str, int], report: AccountPurgeReport) -> None:
        self.counts = counts
        self.report = report

    def add(self, key: str, count: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + count
        self.report.items_deleted[key] = self.report.items_deleted.get(key, 0) + count


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


class ReplayReport(BaseModel):
    """What replaying the deletion log removed (from tables restored from PITR or a backup)."""

    job: str = "purge-replay"
    logged: int  # accounts in the deletion log
    replayed: int  # of those, accounts that still had something to remove (or their receipt to put back)
    items_deleted: dict[str, int] = Field(default_factory=dict)  # per table env, plus "lookups"
    receipts_restored: int = 0  # signed receipts put back into an Accounts table that predates the purge
    complete: bool


def replay(time_left: TimeLeft = _no_deadline) -> ReplayReport:
    """Re-apply every logged deletion to the current tables (after any restore, before the data is used).

    The log lives in the KEK table, which no restore brings back, and it outlives every PITR and backup copy.
    Idempotent: a second replay deletes nothing.
    """
    deadline = _Deadline(time_left)
    deleted = AccountPurgeReport()
    report = ReplayReport(logged=0, replayed=0, complete=True)
    for deletion in keyring.deletions():
        report.logged += 1
        if deadline.near() or not _replay_one(deletion, deadline, deleted, report):
            report.complete = False
            break
    report.items_deleted = deleted.items_deleted
    return report


def _replay_one(
    deletion: keyring.Deletion, deadline: _Deadline, deleted: AccountPurgeReport, report: ReplayReport
) -> bool:
    """Remove one logged account from the current tables again; False if the deadline stopped it."""
    account_id = deletion.account_id
    counts: dict[str, int] = {}
    tallies = _Tallies(counts, deleted)
    # Its KEK went at the purge; deleting it again covers a purge that died between its log entry and its shred.
    keyring.delete_kek(account_id)
    done = _delete_lookups(account_id, deadline, tallies) and _delete_partitions(account_id, deadline, tallies)
    envelope.shred(account_id)  # the restored data key went with the partitions; forget any cached copy too
    due = {"pk": {"S": closure_dal.DUE_PK}, "sk": {"S": closure_dal.due_sk(deletion.purge_after, account_id)}}
    # A purge still under way keeps its due entry: the next hourly run finishes it and signs its receipt.
    if deletion.receipt and closure_dal.delete(settings.get().table(closure_dal.ACCOUNTS_ENV), due):
        tallies.add(LOOKUPS)
    restored = bool(deletion.receipt) and deletion_receipts.restore(account_id, json.loads(deletion.receipt))
    report.receipts_restored += restored
    report.replayed += bool(counts) or restored
    return done

"""The scheduled purge: hard-delete what has expired, because DynamoDB TTL deletes only "within a few days"."""

from __future__ import annotations

from pydantic import BaseModel

from switchboard import clock, settings
from switchboard.dal import purge

# The audit trail is append-only: its retention is enforced by the archive, never by application deletes.
APPEND_ONLY: frozenset[str] = frozenset({"AUDIT_TABLE"})


class PurgeReport(BaseModel):
    """What one purge run deleted, per table env var."""

    job: str = "purge"
    ran_at: str
    deleted: dict[str, int]
    total: int


def run() -> PurgeReport:
    """Delete every expired item of every table this function can see; safe to run twice (idempotent)."""
    now = clock.now()
    now_s = int(now.timestamp())
    deleted: dict[str, int] = {}
    for env, table_name in sorted(settings.get().tables.items()):
        if env in APPEND_ONLY:
            continue
        deleted[env] = sum(
            purge.delete_if_expired(table_name, key, now_s) for key in purge.expired_keys(table_name, now_s)
        )
    return PurgeReport(ran_at=clock.rfc3339(now), deleted=deleted, total=sum(deleted.values()))

"""Per-actor caps on denied audit events in the Limits table: `pk=ACCT#<id>`, `sk=DENIED#<actor>#<minute>`."""

from __future__ import annotations

from switchboard.dal import quota


def take(account_id: str, actor: str, *, minute: int, limit: int, expires_at: int) -> bool:
    """Count one denied event of `actor` in `minute`; False once `limit` were already counted (one UpdateItem)."""
    return quota.add_within(
        f"ACCT#{account_id}", f"DENIED#{actor}#{minute}", "n", 1, limit=limit, expires_at=expires_at
    )

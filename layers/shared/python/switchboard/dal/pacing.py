"""Per-sender pacing buckets (Limits table): where each (sender number, carrier) token bucket lives."""

from __future__ import annotations

from switchboard.dal.keys import account_pk


def bucket_key(account_id: str, carrier: str, sender: str) -> tuple[str, str]:
    """The Limits item of one sender on one carrier (the sender number is the account's own, not personal data)."""
    return account_pk(account_id), f"PACE#{carrier}#{sender}"

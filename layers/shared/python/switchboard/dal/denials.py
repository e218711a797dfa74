"""Per-actor caps on denied audit events in the Limits table: `pk=ACCT#<id>`, `sk=DENIED#<actor>#<minute>`."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.dal import quota
from switchboard.dal.keys import account_pk
from switchboard.dal.schema import Schema


@dataclass(frozen=True)
class DenialCountItem(Schema):
    """Denied events of one actor counted in one minute (`n`), kept until `expires_at`."""

    pk: str = ""
    sk: str = ""
    n: int = 0
    expires_at: int = 0


def take(account_id: str, actor: str, *, minute: int, limit: int, expires_at: int) -> bool:
    """Count one denied event of `actor` in `minute`; False once `limit` were already counted (one UpdateItem)."""
    key = DenialCountItem(account_pk(account_id), f"DENIED#{actor}#{minute}")
    return quota.add_within(key.pk, key.sk, "n", 1, limit=limit, expires_at=expires_at)

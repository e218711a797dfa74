"""Platform e-mail counters in the Limits table: `LIMIT#MAIL#<scope>`, one item per hour window."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import NumberAttribute

from switchboard import catalog
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import ACCOUNT_PREFIX

WINDOW_S = 3600


class MailCountItem(BaseItem):
    """How many e-mails of one scope (a recipient and kind, or an account's invitations) in one hour window."""

    TABLE_ENV: ClassVar[str] = catalog.table("Limits").env

    class Meta:
        table_name = ""

    sent = NumberAttribute(default=0)
    expires_at = NumberAttribute()


def recipient_scope(email_index: str, kind: str) -> str:
    """E-mails of one kind to one address (by blind index), whoever asks."""
    return f"TO#{email_index}#{kind}"


def invitations_scope(account_id: str) -> str:
    """Every invitation one account sends."""
    return f"{ACCOUNT_PREFIX}{account_id}#invitation"


def invitations_to_scope(account_id: str, email_index: str) -> str:
    """One account's invitations to one address (by blind index)."""
    return f"{ACCOUNT_PREFIX}{account_id}#TO#{email_index}"


def take(scope: str, *, now: int) -> int:
    """Count one e-mail in `scope`'s current window (one atomic UpdateItem); the count including it."""
    window = now // WINDOW_S
    item = MailCountItem(f"LIMIT#MAIL#{scope}", f"W#{window}")
    item.update(
        actions=[
            MailCountItem.sent.add(1),
            MailCountItem.expires_at.set((window + 2) * WINDOW_S),  # TTL: gone an hour after its window
        ]
    )
    return int(item.sent)

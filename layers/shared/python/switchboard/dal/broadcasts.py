"""Broadcasts (Messaging table): the record of one send to a list, what it accepted and what it skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from switchboard.dal import messaging_table as table
from switchboard.dal.keys import account_pk


def broadcast_sk(broadcast_id: str) -> str:
    """Sort key of a broadcast under its account."""
    return f"BRD#{broadcast_id}"


@dataclass(frozen=True)
class Broadcast:
    """One broadcast: the item schema, declared once (pk = ACCT#<id>, sk = BRD#<broadcast_id>)."""

    broadcast_id: str
    list_id: str
    channel: str
    accepted: int
    skipped_no_consent: int
    skipped_outside_window: int
    created_at: str

    def to_item(self, account_id: str) -> dict[str, Any]:
        """The stored item."""
        return {"pk": account_pk(account_id), "sk": broadcast_sk(self.broadcast_id), **asdict(self)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Broadcast:
        """A stored item as a record."""
        return cls(**{name: item[name] for name in cls.__dataclass_fields__})


def put(account_id: str, broadcast: Broadcast) -> None:
    """Record a broadcast."""
    table.put(broadcast.to_item(account_id))


def get(account_id: str, broadcast_id: str) -> Broadcast | None:
    """A broadcast of the account, or None."""
    item = table.get(account_pk(account_id), broadcast_sk(broadcast_id))
    return Broadcast.from_item(item) if item else None

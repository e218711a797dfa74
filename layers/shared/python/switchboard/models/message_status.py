"""A message's status lifecycle (API.md): the order statuses take, and which ones are final."""

from __future__ import annotations

from typing import Literal, get_args

MessageStatus = Literal[
    "queued", "sending", "sent", "delivered", "read", "failed", "undelivered", "expired", "canceled"
]
# Every status a message can have, declared once (MessageStatus; the `status` filter of GET /v1/messages).
MESSAGE_STATUSES: tuple[MessageStatus, ...] = get_args(MessageStatus)

# Carriers report out of order: a status only replaces one of lower rank, so the status never moves backwards.
RANK: dict[str, int] = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "undelivered": 3,
    "failed": 5,
    "expired": 5,
    "canceled": 5,
}
FINAL: frozenset[str] = frozenset({"read", "failed", "undelivered", "expired", "canceled"})


def advances(current: str, new: str) -> bool:
    """True when `new` may replace `current` (strictly later in the lifecycle, and `current` is not final)."""
    if current in FINAL and not (current == "undelivered" and new == "read"):
        return False
    return RANK[new] > RANK[current]

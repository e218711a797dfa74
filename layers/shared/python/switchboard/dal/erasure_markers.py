"""Erasure markers (recipient items stripped of their personal data) as records: the erasure job's view of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.dal import recipients
from switchboard.dal.keys import account_of


@dataclass(frozen=True)
class ErasureMarker:
    """An erasure begun and not finished: whose, which number, and the opt-outs its tombstone keeps."""

    account_id: str
    recipient_id: str
    phone_index: str
    consent: dict[str, str] = field(default_factory=dict)


def due(until: int, *, limit: int) -> list[ErasureMarker]:
    """Erasure markers begun by `until` (epoch seconds), across accounts, oldest first."""
    return [
        ErasureMarker(
            account_id=account_of(str(item["pk"])),
            recipient_id=str(item["recipient_id"]),
            phone_index=str(item["phone_index"]),
            consent=dict(item.get("consent") or {}),
        )
        for item in recipients.erasures_due(until, limit=limit)
    ]

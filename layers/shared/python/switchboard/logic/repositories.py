"""What logic needs of the Messaging repositories, as Protocols: dal modules in production, in-memory fakes in tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from switchboard.dal.broadcasts import Broadcast
from switchboard.dal.messages import Attempt, EarlyReceipt, Message


class MessageStore(Protocol):
    """Messages: sealed fields, the held outbox and the never-backwards status machine (dal.messages)."""

    def seal(self, account_id: str, message_id: str, field: str, value: str) -> str: ...

    def open_field(self, account_id: str, message: Message, field: str) -> str | None: ...

    def new_message(
        self,
        *,
        account_id: str,
        message_id: str,
        created_at: str,
        phone_index: str,
        held_until: int | None,
        sealed: dict[str, str],
        **attributes: Any,
    ) -> Message: ...

    def put(self, message: Message) -> None: ...

    def put_held(self, message: Message, due: int) -> None: ...

    def is_held(self, message: Message) -> bool: ...

    def forget_hold(self, message: Message) -> Message: ...

    def hold(self, account_id: str, message_id: str, due: int) -> None: ...

    def unhold(self, account_id: str, message_id: str) -> None: ...

    def get(self, account_id: str, message_id: str) -> Message | None: ...

    def transition(
        self,
        account_id: str,
        message_id: str,
        new: str,
        *,
        at: str,
        also: dict[str, Any] | None = None,
        remove: tuple[str, ...] = (),
        sent_due: int | None = None,
    ) -> Message | None: ...

    def cancel(self, account_id: str, message_id: str, *, at: str) -> Message | None: ...

    def put_many(self, messages: Iterable[Message]) -> int: ...

    def delete_many(self, account_id: str, message_ids: Iterable[str]) -> int: ...

    def count_existing(self, account_id: str, message_ids: Iterable[str]) -> int: ...


class ReceiptStore(MessageStore, Protocol):
    """What carrier receipts and the receipts job need besides: attempt records, the carrier-id mapping, receipts
    kept until that mapping exists, and the reconciliation index of `sent` messages (dal.messages)."""

    def get_attempt(self, account_id: str, message_id: str, carrier: str) -> Attempt | None: ...

    def find_by_carrier_id(self, carrier: str, carrier_message_id: str) -> tuple[str, str] | None: ...

    def keep_early(
        self,
        carrier: str,
        carrier_message_id: str,
        *,
        event_id: str,
        status: str,
        error_code: str,
        at: str,
        expires_at: int,
    ) -> None: ...

    def early_receipts(self, carrier: str, carrier_message_id: str) -> list[EarlyReceipt]: ...

    def due_sent(
        self, shard: int, until: int, *, limit: int, cursor: str | None
    ) -> tuple[list[Message], str | None]: ...

    def recheck_sent(self, account_id: str, message_id: str, *, due: int) -> bool: ...

    def mark_receipt_missing(
        self, account_id: str, message_id: str, *, error: dict[str, str], at: str
    ) -> Message | None: ...


class DeliveryStore(ReceiptStore, Protocol):
    """What the send worker needs besides: the lease, the attempt log and records, the carrier-id mapping."""

    def claim(self, account_id: str, message_id: str, *, now: float, lease_s: float, at: str) -> Message | None: ...

    def release_lease(self, account_id: str, message_id: str) -> None: ...

    def record_attempts(
        self, account_id: str, message_id: str, attempts: list[dict[str, Any]], *, carrier: str | None = None
    ) -> None: ...

    def claim_attempt(self, account_id: str, message_id: str, carrier: str, *, at: str) -> Attempt | None: ...

    def finish_attempt(
        self, account_id: str, message_id: str, carrier: str, outcome: str, carrier_message_id: str = ""
    ) -> None: ...

    def map_carrier_id(self, carrier: str, carrier_message_id: str, account_id: str, message_id: str) -> None: ...

    def index_sent(
        self, account_id: str, message_id: str, *, carrier_message_id: str, sent_at_s: int, due: int
    ) -> bool: ...


class BroadcastStore(Protocol):
    """Broadcast records (dal.broadcasts)."""

    def put(self, account_id: str, broadcast: Broadcast) -> None: ...

    def get(self, account_id: str, broadcast_id: str) -> Broadcast | None: ...

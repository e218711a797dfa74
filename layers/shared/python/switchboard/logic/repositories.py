"""What logic needs of the Messaging repositories, as Protocols: dal modules in production, in-memory fakes in tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from switchboard.dal.broadcasts import Broadcast
from switchboard.dal.messages import Message


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
    ) -> Message | None: ...

    def cancel(self, account_id: str, message_id: str, *, at: str) -> Message | None: ...

    def put_many(self, messages: Iterable[Message]) -> int: ...

    def delete_many(self, account_id: str, message_ids: Iterable[str]) -> int: ...

    def count_existing(self, account_id: str, message_ids: Iterable[str]) -> int: ...


class BroadcastStore(Protocol):
    """Broadcast records (dal.broadcasts)."""

    def put(self, account_id: str, broadcast: Broadcast) -> None: ...

    def get(self, account_id: str, broadcast_id: str) -> Broadcast | None: ...

"""In-memory MessageStore and BroadcastStore: the dal's semantics (never backwards, outbox, rollback) without AWS.

tests/integration/messaging/test_message_store_contract.py runs the same scenarios on these and on the real
repositories under moto, so a logic test on a fake proves what it would prove on DynamoDB.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from switchboard.dal import messages as messages_dal
from switchboard.dal.broadcasts import Broadcast
from switchboard.dal.messages import Message
from switchboard.models.message_status import RANK, advances

Key = tuple[str, str]


class SealedElsewhere(Exception):
    """A sealed value opened with another message's (or field's) associated data."""


class InMemoryMessages:
    """Messages kept in a dict; sealing is a reversible tag that still binds a value to its message and field."""

    def __init__(self) -> None:
        self.items: dict[Key, Message] = {}
        self.held: dict[Key, int] = {}
        self.fail_put_many_after: int | None = None  # raise on the call after this many batched writes
        self.fail_delete_many = False
        self.put_many_calls = 0

    # sealing: bound to (account, message, field), as envelope's associated data is
    def seal(self, account_id: str, message_id: str, field: str, value: str) -> str:
        return f"sealed:{account_id}:{message_id}:{field}:{value}"

    def open_field(self, account_id: str, message: Message, field: str) -> str | None:
        sealed = message.sealed.get(field)
        if not sealed:
            return None
        prefix = f"sealed:{account_id}:{message.message_id}:{field}:"
        if not sealed.startswith(prefix):
            raise SealedElsewhere(field)
        return sealed.removeprefix(prefix)

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
    ) -> Message:
        messages_dal.check_attributes(attributes)
        return messages_dal.message_from(
            {
                **attributes,
                "message_id": message_id,
                "account_id": account_id,
                "created_at": created_at,
                **{field: self.seal(account_id, message_id, field, value) for field, value in sealed.items()},
            },
            held_until=held_until,
            phone_index=phone_index,
        )

    # the held outbox
    def is_held(self, message: Message) -> bool:
        return message.held_until is not None

    def forget_hold(self, message: Message) -> Message:
        return replace(message, held_until=None)

    def put_held(self, message: Message, due: int) -> None:
        self.put(replace(message, held_until=due))

    def hold(self, account_id: str, message_id: str, due: int) -> None:
        if (account_id, message_id) in self.items:
            self.held[(account_id, message_id)] = due

    def unhold(self, account_id: str, message_id: str) -> None:
        self.held.pop((account_id, message_id), None)

    # messages
    def _image(self, key: Key) -> Message:
        return replace(self.items[key], held_until=self.held.get(key))

    def put(self, message: Message) -> None:
        key = (message.account_id, message.message_id)
        if key in self.items:
            return  # never overwrites a message (the real put is conditional)
        self._store(key, message)

    def _store(self, key: Key, message: Message) -> None:
        self.items[key] = replace(message, held_until=None)
        if message.held_until is not None:
            self.held[key] = message.held_until

    def _update(self, key: Key, set_: dict[str, Any], remove: tuple[str, ...] = ()) -> Message:
        # As an UpdateItem does: attributes set and removed by name (index keys are the real repository's).
        attributes = {**messages_dal.attributes_of(self.items[key]), **copy.deepcopy(set_)}
        for name in remove:
            attributes.pop(name, None)
        self.items[key] = messages_dal.message_from(attributes, phone_index=self.items[key].phone_index)
        return self._image(key)

    def get(self, account_id: str, message_id: str) -> Message | None:
        return self._image((account_id, message_id)) if (account_id, message_id) in self.items else None

    def transition(
        self,
        account_id: str,
        message_id: str,
        new: str,
        *,
        at: str,
        also: dict[str, Any] | None = None,
        remove: tuple[str, ...] = (),
    ) -> Message | None:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or not advances(message.status, new):
            return None
        events = [*messages_dal.attributes_of(message).get("events", []), {"status": new, "at": at}]
        if RANK[new] > RANK["sent"]:
            self.held.pop(key, None)
        return self._update(key, {**(also or {}), "status": new, "events": events}, remove)

    def cancel(self, account_id: str, message_id: str, *, at: str) -> Message | None:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or message.status != "queued":
            return None
        events = [*messages_dal.attributes_of(message).get("events", []), {"status": "canceled", "at": at}]
        self.held.pop(key, None)
        return self._update(key, {"status": "canceled", "events": events, "lease_until": 0})

    # batches (unconditional, as BatchWriteItem is)
    def put_many(self, messages: Iterable[Message]) -> int:
        if self.fail_put_many_after is not None and self.put_many_calls >= self.fail_put_many_after:
            raise RuntimeError("BatchWriteItem failed")
        self.put_many_calls += 1
        written = 0
        for message in messages:
            self._store((message.account_id, message.message_id), message)
            written += 1
        return written

    def delete_many(self, account_id: str, message_ids: Iterable[str]) -> int:
        if self.fail_delete_many:
            raise RuntimeError("BatchWriteItem failed")
        ids = list(message_ids)
        for message_id in ids:
            self.items.pop((account_id, message_id), None)
            self.held.pop((account_id, message_id), None)
        return len(ids)

    def count_existing(self, account_id: str, message_ids: Iterable[str]) -> int:
        return sum(1 for m in set(message_ids) if (account_id, m) in self.items)


class InMemoryBroadcasts:
    """Broadcast records kept in a dict."""

    def __init__(self) -> None:
        self.items: dict[Key, Broadcast] = {}

    def put(self, account_id: str, broadcast: Broadcast) -> None:
        self.items[(account_id, broadcast.broadcast_id)] = broadcast

    def get(self, account_id: str, broadcast_id: str) -> Broadcast | None:
        return self.items.get((account_id, broadcast_id))

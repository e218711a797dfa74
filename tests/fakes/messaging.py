"""In-memory MessageStore and BroadcastStore: the dal's semantics (never backwards, outbox, rollback) without AWS.

tests/integration/messaging/test_message_store_contract.py runs the same scenarios on these and on the real
repositories under moto, so a logic test on a fake proves what it would prove on DynamoDB.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from switchboard.dal.broadcasts import Broadcast
from switchboard.models.message_status import RANK, advances

_HELD = "_held"  # the image's mark of the held outbox (the real item carries its gsi2 keys)
Key = tuple[str, str]


class SealedElsewhere(Exception):
    """A sealed value opened with another message's (or field's) associated data."""


class InMemoryMessages:
    """Messages kept in a dict; sealing is a reversible tag that still binds a value to its message and field."""

    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {}
        self.held: dict[Key, int] = {}
        self.fail_put_many_after: int | None = None  # raise on the call after this many batched writes
        self.fail_delete_many = False
        self.put_many_calls = 0

    # sealing: bound to (account, message, field), as envelope's associated data is
    def seal(self, account_id: str, message_id: str, field: str, value: str) -> str:
        return f"sealed:{account_id}:{message_id}:{field}:{value}"

    def open_field(self, account_id: str, item: dict[str, Any], field: str) -> str | None:
        sealed = item.get(field)
        if not sealed:
            return None
        prefix = f"sealed:{account_id}:{item['message_id']}:{field}:"
        if not str(sealed).startswith(prefix):
            raise SealedElsewhere(field)
        return str(sealed).removeprefix(prefix)

    def new_message(
        self,
        *,
        account_id: str,
        message_id: str,
        created_at: str,
        phone_index: str,
        held_until: int | None,
        sealed: dict[str, str],
        **fields: Any,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "message_id": message_id,
            "account_id": account_id,
            "created_at": created_at,
            **{k: v for k, v in fields.items() if v is not None},
        }
        for field, value in sealed.items():
            item[field] = self.seal(account_id, message_id, field, value)
        if held_until is not None:
            item[_HELD] = held_until
        return item

    # the held outbox
    def is_held(self, item: dict[str, Any]) -> bool:
        return _HELD in item

    def forget_hold(self, item: dict[str, Any]) -> None:
        item.pop(_HELD, None)

    def put_held(self, item: dict[str, Any], due: int) -> None:
        item[_HELD] = due
        self.put(item)

    def hold(self, account_id: str, message_id: str, due: int) -> None:
        if (account_id, message_id) in self.items:
            self.held[(account_id, message_id)] = due

    def unhold(self, account_id: str, message_id: str) -> None:
        self.held.pop((account_id, message_id), None)

    # items
    def _image(self, key: Key) -> dict[str, Any]:
        image = copy.deepcopy(self.items[key])
        if key in self.held:
            image[_HELD] = self.held[key]
        return image

    def put(self, item: dict[str, Any]) -> None:
        key = (str(item["account_id"]), str(item["message_id"]))
        if key in self.items:
            return  # never overwrites a message (the real put is conditional)
        self._store(key, item)

    def _store(self, key: Key, item: dict[str, Any]) -> None:
        stored = copy.deepcopy(item)
        held = stored.pop(_HELD, None)
        self.items[key] = stored
        if held is not None:
            self.held[key] = held

    def get(self, account_id: str, message_id: str) -> dict[str, Any] | None:
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
    ) -> dict[str, Any] | None:
        key = (account_id, message_id)
        item = self.items.get(key)
        if item is None or not advances(str(item["status"]), new):
            return None
        item["status"] = new
        item.setdefault("events", []).append({"status": new, "at": at})
        item.update(copy.deepcopy(also or {}))
        for field in remove:
            item.pop(field, None)
        if RANK[new] > RANK["sent"]:
            self.held.pop(key, None)
        return self._image(key)

    def cancel(self, account_id: str, message_id: str, *, at: str) -> dict[str, Any] | None:
        key = (account_id, message_id)
        item = self.items.get(key)
        if item is None or item["status"] != "queued":
            return None
        item["status"] = "canceled"
        item.setdefault("events", []).append({"status": "canceled", "at": at})
        item["lease_until"] = 0
        self.held.pop(key, None)
        return self._image(key)

    # batches (unconditional, as BatchWriteItem is)
    def put_many(self, items: Iterable[dict[str, Any]]) -> int:
        if self.fail_put_many_after is not None and self.put_many_calls >= self.fail_put_many_after:
            raise RuntimeError("BatchWriteItem failed")
        self.put_many_calls += 1
        written = 0
        for item in items:
            self._store((str(item["account_id"]), str(item["message_id"])), item)
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

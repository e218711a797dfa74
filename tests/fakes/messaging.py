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
from switchboard.dal.messages import Attempt, EarlyReceipt, Message
from switchboard.models.message_status import RANK, advances

Key = tuple[str, str]


class SealedElsewhere(Exception):
    """A sealed value opened with another message's (or field's) associated data."""


class InMemoryMessages:
    """Messages kept in a dict; sealing is a reversible tag that still binds a value to its message and field."""

    def __init__(self) -> None:
        self.items: dict[Key, Message] = {}
        self.held: dict[Key, int] = {}  # the held outbox: due time
        self.sent: dict[Key, int] = {}  # the reconciliation index: when to check a `sent` message
        self.attempts: dict[tuple[str, str, str], Attempt] = {}  # (account, message, carrier)
        self.carrier_ids: dict[Key, Key] = {}  # (carrier, carrier message id) -> (account, message)
        self.early: dict[Key, dict[str, EarlyReceipt]] = {}  # (carrier, carrier message id) -> by event id
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
            self.sent.pop((account_id, message_id), None)  # one gsi2 place per message

    def unhold(self, account_id: str, message_id: str) -> None:
        self.held.pop((account_id, message_id), None)

    # messages
    def _image(self, key: Key) -> Message:
        return replace(self.items[key], held_until=self.held.get(key, self.sent.get(key)))

    def _off_index(self, key: Key) -> None:
        self.held.pop(key, None)
        self.sent.pop(key, None)

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
        sent_due: int | None = None,
    ) -> Message | None:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or not advances(message.status, new):
            return None
        events = [*messages_dal.attributes_of(message).get("events", []), {"status": new, "at": at}]
        if RANK[new] > RANK["sent"]:
            self._off_index(key)
        if sent_due is not None:
            self._off_index(key)
            self.sent[key] = sent_due
        return self._update(key, {**(also or {}), "status": new, "events": events}, remove)

    def cancel(self, account_id: str, message_id: str, *, at: str) -> Message | None:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or message.status != "queued":
            return None
        events = [*messages_dal.attributes_of(message).get("events", []), {"status": "canceled", "at": at}]
        self._off_index(key)
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
            self._off_index((account_id, message_id))
        return len(ids)

    def count_existing(self, account_id: str, message_ids: Iterable[str]) -> int:
        return sum(1 for m in set(message_ids) if (account_id, m) in self.items)

    # delivery: the lease, the attempt log and the attempt records
    def claim(self, account_id: str, message_id: str, *, now: float, lease_s: float, at: str) -> Message | None:
        claimed = self.transition(account_id, message_id, "sending", at=at, also={"lease_until": now + lease_s})
        if claimed is not None:
            return claimed
        message = self.items.get((account_id, message_id))
        if message is None or message.status != "sending" or message.lease_until >= now:
            return None
        return self._update((account_id, message_id), {"lease_until": now + lease_s})

    def release_lease(self, account_id: str, message_id: str) -> None:
        message = self.items.get((account_id, message_id))
        if message is not None and message.status == "sending":
            self._update((account_id, message_id), {"lease_until": 0})

    def record_attempts(
        self, account_id: str, message_id: str, attempts: list[dict[str, Any]], *, carrier: str | None = None
    ) -> None:
        if (account_id, message_id) in self.items:
            fields: dict[str, Any] = (
                {"attempts": attempts} if carrier is None else {"attempts": attempts, "carrier": carrier}
            )
            self._update((account_id, message_id), fields)

    def claim_attempt(self, account_id: str, message_id: str, carrier: str, *, at: str) -> Attempt | None:
        key = (account_id, message_id, carrier)
        blocking = self.attempts.get(key)
        if blocking is not None and blocking.outcome != "failed":
            return blocking
        self.attempts[key] = Attempt(message_id=message_id, carrier=carrier, outcome="pending", at=at)
        return None

    def finish_attempt(
        self, account_id: str, message_id: str, carrier: str, outcome: str, carrier_message_id: str = ""
    ) -> None:
        key = (account_id, message_id, carrier)
        known = self.attempts.get(key) or Attempt(message_id=message_id, carrier=carrier, outcome=outcome)
        self.attempts[key] = replace(known, outcome=outcome, carrier_message_id=carrier_message_id)

    def get_attempt(self, account_id: str, message_id: str, carrier: str) -> Attempt | None:
        return self.attempts.get((account_id, message_id, carrier))

    # receipts: the carrier-id mapping and the receipts that came before it
    def map_carrier_id(self, carrier: str, carrier_message_id: str, account_id: str, message_id: str) -> None:
        self.carrier_ids[(carrier, carrier_message_id)] = (account_id, message_id)

    def find_by_carrier_id(self, carrier: str, carrier_message_id: str) -> tuple[str, str] | None:
        return self.carrier_ids.get((carrier, carrier_message_id))

    def keep_early(self, carrier: str, carrier_message_id: str, *, event_id: str, **receipt: Any) -> None:
        self.early.setdefault((carrier, carrier_message_id), {})[event_id] = EarlyReceipt(**receipt)

    def early_receipts(self, carrier: str, carrier_message_id: str) -> list[EarlyReceipt]:
        kept = self.early.get((carrier, carrier_message_id), {})
        return [kept[event_id] for event_id in sorted(kept)]  # the real query reads them by event id

    # the reconciliation index
    def index_sent(
        self, account_id: str, message_id: str, *, carrier_message_id: str, sent_at_s: int, due: int
    ) -> bool:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or message.status != "sent":
            return False
        self._update(key, {"carrier_message_id": carrier_message_id, "sent_at_s": sent_at_s})
        self._off_index(key)
        self.sent[key] = due
        return True

    def recheck_sent(self, account_id: str, message_id: str, *, due: int) -> bool:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or message.status != "sent":
            return False
        self._off_index(key)
        self.sent[key] = due
        return True

    def due_sent(self, shard: int, until: int, *, limit: int, cursor: str | None) -> tuple[list[Message], str | None]:
        partition = f"{messages_dal.SENT_PARTITION}#{shard:02d}"
        due = sorted(
            (at, key)
            for key, at in self.sent.items()
            if at <= until and messages_dal.sent_partition(key[1]) == partition
        )
        start = int(cursor or 0)
        page = [self._image(key) for _, key in due[start : start + limit]]
        return page, (str(start + limit) if start + limit < len(due) else None)

    def mark_receipt_missing(
        self, account_id: str, message_id: str, *, error: dict[str, str], at: str
    ) -> Message | None:
        key = (account_id, message_id)
        message = self.items.get(key)
        if message is None or message.status != "sent":
            return None
        self._off_index(key)
        return self._update(key, {"error": error, "receipt_missing_at": at})


class InMemoryBroadcasts:
    """Broadcast records kept in a dict."""

    def __init__(self) -> None:
        self.items: dict[Key, Broadcast] = {}

    def put(self, account_id: str, broadcast: Broadcast) -> None:
        self.items[(account_id, broadcast.broadcast_id)] = broadcast

    def get(self, account_id: str, broadcast_id: str) -> Broadcast | None:
        return self.items.get((account_id, broadcast_id))

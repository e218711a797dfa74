"""Per-account caps that hold under concurrency: each capped object claims one of N slot items in its own write.

A slot is `ACCT#<id>` / `CAP#<kind>#<nnn>` in the Accounts table, holding the sort key of the object that owns it
and that object's `expires_at`. Creating an object claims a free slot (absent, or expired with its holder) in the
same transaction that writes the object, on the condition that the slot is still free: two creates can never hold
one slot, so at most N objects exist whatever the concurrency (a count-then-write check cannot promise that).
Deleting an object frees its slot in the same transaction; an object that expires frees its slot at the same moment,
with no job to run. Objects stored before their kind was capped hold no slot and are not counted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from switchboard import catalog, clock
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

SLOT_PREFIX = "CAP#"
ROUNDS = 3  # reads of the slots before a create gives up on contention (each failed claim means another won)
_RETRY = (["ConditionalCheckFailed"], ["TransactionConflict"])


class CapReached(Exception):
    """Every slot of the kind is held by a live object."""

    def __init__(self, kind: str, cap: int) -> None:
        super().__init__(f"{kind}: at most {cap}")
        self.kind = kind
        self.cap = cap


class Contended(Exception):
    """Free slots kept being taken by concurrent creates: the caller may retry."""


class SlotItem(BaseItem):
    """pk = ACCT#<id>, sk = CAP#<kind>#<nnn>: held by the object whose sort key is `holder` until `expires_at`."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    holder = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)  # None: held until the object is deleted


def slot_prefix(kind: str) -> str:
    """The sort-key prefix of a kind's slots."""
    return f"{SLOT_PREFIX}{kind}#"


def slot_sk(kind: str, number: int) -> str:
    """The sort key of one slot."""
    return f"{slot_prefix(kind)}{number:03d}"


def _connection() -> object:
    return SlotItem._get_connection().connection


def held(account_id: str, kind: str) -> int:
    """How many slots of the kind live objects hold now."""
    return len(_held(account_id, kind, int(clock.timestamp())))


def _held(account_id: str, kind: str, now: int) -> set[str]:
    slots = SlotItem.query(account_pk(account_id), SlotItem.sk.startswith(slot_prefix(kind)), consistent_read=True)
    return {s.sk for s in slots if s.expires_at is None or int(s.expires_at) > now}


def claim(
    account_id: str,
    kind: str,
    cap: int,
    *,
    holder: str,
    expires_at: int | None,
    writes: Callable[[TransactWrite, str], None],
) -> str:
    """Write the object (`writes(transaction, slot_sk)`, which must add no update) and claim a free slot for it.

    Returns the slot's sort key (store it on the object: deleting frees it). CapReached when every slot is held;
    Contended when free slots kept being taken meanwhile. Any other refusal of the transaction propagates.
    """
    pk = account_pk(account_id)
    rng = secrets.SystemRandom()
    for _ in range(ROUNDS):
        now = int(clock.timestamp())
        taken = _held(account_id, kind, now)
        free = [sk for sk in (slot_sk(kind, n) for n in range(cap)) if sk not in taken]
        if not free:
            raise CapReached(kind, cap)
        rng.shuffle(free)  # concurrent creates spread over the free slots instead of all racing for the first
        for sk in free:
            slot = SlotItem(pk, sk)
            actions: list[Action] = [SlotItem.holder.set(holder)]
            actions.append(
                SlotItem.expires_at.set(expires_at) if expires_at is not None else SlotItem.expires_at.remove()
            )
            try:
                with TransactWrite(connection=_connection()) as transaction:
                    writes(transaction, sk)
                    # Updates go last in the request (PynamoDB's order), and this is the only one: its reason is last.
                    transaction.update(
                        slot, actions=actions, condition=SlotItem.pk.does_not_exist() | (SlotItem.expires_at <= now)
                    )
                return sk
            except TransactWriteError as error:
                reasons = [r.code if r is not None else None for r in error.cancellation_reasons]
                if error.cause_response_code == "TransactionCanceledException" and reasons[-1:] in _RETRY:
                    continue  # another create took this slot first
                raise
    raise Contended(kind)


def free(transaction: TransactWrite, account_id: str, slot: str | None, holder: str) -> None:
    """Free `slot` in `transaction` if `holder` still holds it (see `freeing`); nothing for an uncounted object."""
    if slot:
        transaction.delete(SlotItem(account_pk(account_id), slot), condition=SlotItem.holder == holder)


def freeing(build: Callable[[TransactWrite, bool], None]) -> None:
    """Run a transaction that frees a slot (`build(transaction, with_slot)`).

    The slot of an object that expired may have been claimed by a new object meanwhile; the condition on the slot then
    cancels the transaction, which runs once more without freeing it. Other refusals are raised by that second run.
    """
    try:
        with TransactWrite(connection=_connection()) as transaction:
            build(transaction, True)
    except TransactWriteError as error:
        if error.cause_response_code != "TransactionCanceledException":
            raise
        with TransactWrite(connection=_connection()) as transaction:
            build(transaction, False)


def set_expiry(transaction: TransactWrite, account_id: str, slot: str | None, holder: str, expires_at: int) -> None:
    """Make `slot` free when its object's life ends early (a revoked or rotated API key), in `transaction`."""
    if slot:
        transaction.update(
            SlotItem(account_pk(account_id), slot),
            actions=[SlotItem.expires_at.set(expires_at)],
            condition=SlotItem.holder == holder,
        )

"""Carrier receipts: found by our ref or the carrier-id mapping, kept when early, applied once, never backwards."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from switchboard import clock, settings
from switchboard.carriers.base import CarrierEvent, Receipt
from switchboard.crypto import envelope
from switchboard.dal import messages as store
from switchboard.dal.messages import Message
from switchboard.logic import sending
from switchboard.logic.repositories import ReceiptStore
from switchboard.models.message_status import RANK
from switchboard.observability import logger, metrics

REF_MAC_HEX = 32  # 128 bits of HMAC-SHA256: a ref cannot be guessed for another account's message
# Statuses a receipt reports when all went well: they clear a `receipt_missing` mark the reconciliation job left.
_GOOD = frozenset({"delivered", "read"})
Publish = Callable[[Message], None]  # `message.status` of a message that moved (webhook_events by default)


def _mac(account_id: str, message_id: str) -> str:
    # Keyed by the account's own data key: minting a ref for another account's message needs that account's key.
    return envelope.blind_index(account_id, message_id, purpose="receipt-ref")[:REF_MAC_HEX]


def callback_ref(account_id: str, message_id: str) -> str:
    """The ref a carrier echoes in this message's status callbacks: `<account_id>.<message_id>.<mac>`."""
    return f"{account_id}.{message_id}.{_mac(account_id, message_id)}"


def carried_by(ref: str) -> tuple[str, str] | None:
    """The (account_id, message_id) a ref names, if its MAC is the account's own; None otherwise."""
    if not ref:
        return None
    account_id, message_id, mac = ref.split(".")
    try:
        expected = _mac(account_id, message_id)
    except envelope.KeyShredded:  # no such account (or it was purged): nothing of it can be changed
        return None
    return (account_id, message_id) if hmac.compare_digest(expected.encode(), mac.encode()) else None


def _bound(target: tuple[str, str], event: CarrierEvent, messages: ReceiptStore) -> bool:
    """Whether the message was handed to this carrier and, if it took it, under this carrier id."""
    attempt = messages.get_attempt(*target, event.carrier)
    if attempt is None:
        return False
    known = attempt.carrier_message_id
    return not known or hmac.compare_digest(known.encode(), event.carrier_message_id.encode())


def apply_status(
    target: tuple[str, str],
    status: str,
    error_code: str,
    carrier: str,
    *,
    messages: ReceiptStore = store,
    publish: Publish | None = None,
) -> str:
    """Move the message (account_id, message_id) to a carrier-reported status; `updated` or `stale`."""
    error = {"code": error_code, "detail": f"{carrier} reported {status}"} if error_code else None
    # A good receipt after all: the reconciliation job's `receipt_missing` mark no longer holds.
    remove = ("error",) if error is None and status in _GOOD else ()
    moved = sending.move(target, status, error=error, remove=remove, repository=messages, publish=publish)
    return "updated" if moved is not None else "stale"


def apply(event: CarrierEvent, *, messages: ReceiptStore = store, publish: Publish | None = None) -> str:
    """Apply one verified status receipt; what happened, for the log (never an error the carrier would retry).

    Its message is the one the carrier-id mapping names or, before the send worker wrote the mapping, the one our
    ref names (its MAC checked, and the message handed to this carrier under this id). With neither, the receipt is
    kept (early_receipt_ttl_s) and the worker applies it once it writes the mapping.
    """
    carried = carried_by(event.ref)
    if event.ref and carried is None:
        # A carrier echoes exactly the ref we gave it: one we did not mint was forged or tampered with.
        logger.warning("receipt ref refused", extra={"carrier": event.carrier})
        return "refused"
    target = _target(event, carried, messages)
    if target == "mismatch":
        logger.warning("receipt ref and carrier id name different messages", extra={"carrier": event.carrier})
        return "mismatch"
    if isinstance(target, tuple):
        if target == carried and RANK[event.status] > RANK["sent"]:
            # Found by our ref, the worker has not recorded the acceptance yet: the receipt proves it, so the
            # message passes through `sent` (its webhook too) rather than skipping it.
            sending.move(target, "sent", carrier=event.carrier, repository=messages, publish=publish)
        return apply_status(target, event.status, event.error_code, event.carrier, messages=messages, publish=publish)
    return _keep_early(event, messages, publish)


def _target(
    event: CarrierEvent, carried: tuple[str, str] | None, messages: ReceiptStore
) -> tuple[str, str] | str | None:
    """The message the receipt is about, "mismatch" when its ref and carrier id disagree, None when unknown yet."""
    mapped = messages.find_by_carrier_id(event.carrier, event.carrier_message_id)
    if mapped is not None:
        return mapped if carried is None or carried == mapped else "mismatch"
    if carried is not None and not _bound(carried, event, messages):
        return "mismatch"
    return carried


def _keep_early(event: CarrierEvent, messages: ReceiptStore, publish: Publish | None) -> str:
    messages.keep_early(
        event.carrier,
        event.carrier_message_id,
        event_id=event.event_id,
        status=event.status,
        error_code=event.error_code,
        at=event.at,
        expires_at=int(clock.timestamp()) + settings.get().early_receipt_ttl_s,
    )
    # The worker may have written the mapping since we looked: it reads early receipts only after writing it, and
    # we look again only after keeping this one, so at least one of us sees the other.
    mapped = messages.find_by_carrier_id(event.carrier, event.carrier_message_id)
    if mapped is not None:
        return apply_status(mapped, event.status, event.error_code, event.carrier, messages=messages, publish=publish)
    metrics.add_metric(name="ReceiptsKeptEarly", unit="Count", value=1)
    return "early"


def apply_early(
    receipt: Receipt, target: tuple[str, str], *, messages: ReceiptStore = store, publish: Publish | None = None
) -> int:
    """Apply the receipts kept for a carrier's id (its `receipt`), now mapped to the message `target`: unexpired
    ones, in lifecycle order."""
    now = clock.timestamp()
    kept = [r for r in messages.early_receipts(receipt.carrier, receipt.carrier_message_id) if r.expires_at > now]
    kept.sort(key=lambda r: RANK.get(r.status, 0))
    applied = 0
    for early in kept:
        if early.status not in RANK:
            continue
        outcome = apply_status(
            target, early.status, early.error_code, receipt.carrier, messages=messages, publish=publish
        )
        applied += outcome == "updated"
    if kept:
        logger.info("early receipts applied", extra={"kept": len(kept), "applied": applied})
    return applied

"""Delivering one queued message: claim it, re-check validity and consent, fail over across carriers, record it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from switchboard import clock, settings
from switchboard.carriers import circuit, pacing, registry, routing
from switchboard.carriers.base import Carrier, Outbound, Receipt
from switchboard.dal import messages as store
from switchboard.dal import recipients as recipients_dal
from switchboard.dal.messages import Message
from switchboard.dal.recipients import Recipient
from switchboard.logic import consent, media, receipts, standing, webhook_events
from switchboard.logic import messages as messages_logic
from switchboard.logic.repositories import MessageStore
from switchboard.models.message_status import FINAL, RANK
from switchboard.models.messages import SendRecord
from switchboard.observability import logger, metrics

LEASE_S = 30.0  # shorter than the queue's visibility timeout, so a redelivery can take over a dead worker's claim
MAX_RECEIVES = 3  # every carrier failed this many deliveries of the record: the message fails


class RetryLater(Exception):
    """The record goes back to its queue (paced, or every carrier failed this time)."""


class _AttemptLedger:
    """routing.Ledger over the attempt records of one message."""

    def __init__(self, account_id: str, message_id: str) -> None:
        self.account_id = account_id
        self.message_id = message_id

    def reserve(self, carrier: str) -> tuple[str, str] | None:
        blocking = store.claim_attempt(self.account_id, self.message_id, carrier, at=clock.rfc3339(clock.now()))
        if blocking is None:
            return None
        return blocking.outcome, blocking.carrier_message_id

    def accepted(self, carrier: str, receipt: Receipt) -> None:
        store.finish_attempt(self.account_id, self.message_id, carrier, "accepted", receipt.carrier_message_id)

    def ended(self, carrier: str, outcome: str) -> None:
        store.finish_attempt(self.account_id, self.message_id, carrier, outcome)


def publish_status(message: Message) -> None:
    """`message.status` for the account's webhooks: one per transition."""
    webhook_events.publish_status(message)


def move(
    message: Message | tuple[str, str],
    new: str,
    *,
    error: dict[str, str] | None = None,
    remove: tuple[str, ...] = (),
    repository: MessageStore = store,
    publish: Callable[[Message], None] | None = None,
    sent_due: int | None = None,
    **also: Any,
) -> Message | None:
    """Transition (never backwards) and publish; None when the message had already moved past `new`.

    `message` is the message, or its (account_id, message_id) when only those are known (a carrier's receipt).
    """
    account_id, message_id = (message.account_id, message.message_id) if isinstance(message, Message) else message
    fields = dict(also)
    if error is not None:
        fields["error"] = error
    moved = repository.transition(
        account_id,
        message_id,
        new,
        at=clock.rfc3339(clock.now()),
        also=fields or None,
        remove=remove,
        sent_due=sent_due,
    )
    if moved is not None:
        (publish or publish_status)(moved)
    return moved


def _expired(message: Message) -> bool:
    return message.valid_until is not None and clock.timestamp() > float(message.valid_until)


def expire(item: Message) -> Message | None:
    """Past validity_s: `expired`, never sent late."""
    metrics.add_metric(name="MessagesExpired", unit="Count", value=1)
    return move(item, "expired", error={"code": "expired", "detail": "Not sent within validity_s."})


def _outbound(item: Message) -> Outbound:
    account_id = item.account_id
    template = messages_logic.open_field(account_id, item, "template_sealed")
    return Outbound(
        message_id=item.message_id,
        account_id=account_id,
        channel=item.channel,
        from_=item.from_number,
        to=messages_logic.open_field(account_id, item, "to_sealed") or "",
        # A template send carries its rendered text for carriers that send text (Twilio); WhatsApp sends the template.
        body=messages_logic.open_field(account_id, item, "body_sealed")
        or messages_logic.open_field(account_id, item, "rendered_sealed")
        or "",
        template=json.loads(template) if template else None,
        callback_ref=receipts.callback_ref(account_id, item.message_id),
        record=bool(item.record) and item.channel == "voice",
    )


def _blocked(record: SendRecord, item: Message, claimed: Message) -> str | None:
    """Fail the message (and say why) when its recipient opted out, or WhatsApp's window closed for free-form text."""
    if item.kind == "help_reply":
        return None  # answering a question needs no consent, and the question opened the window
    recipient = recipients_dal.get(record.account_id, item.recipient_id or "")
    if item.kind == messages_logic.REPLY_KIND:
        return _reply_blocked(record, recipient, item, claimed)
    if not consent.allows_send(recipient, item.channel):
        # An opt-out (e.g. STOP) after queueing blocks the send on every carrier.
        move(claimed, "failed", error={"code": "consent_required", "detail": "The recipient opted out."})
        return "no_consent"
    free_form = messages_logic.needs_window(
        item.channel, "" if item.sealed.get("body_sealed") else None, media=bool(item.media)
    )
    if free_form and recipient is not None and not messages_logic.window_open(record.account_id, recipient):
        # Scheduled (or long-queued) free-form WhatsApp text whose 24-hour window closed meanwhile (R62).
        detail = "The 24-hour WhatsApp window closed before sending; only a template may be sent."
        move(claimed, "failed", error={"code": "template_required", "detail": detail})
        return "outside_window"
    return None


def _reply_blocked(record: SendRecord, recipient: Recipient | None, item: Message, claimed: Message) -> str | None:
    """An agent's reply needs no opt-in (the person wrote first), but no opt-out and an open reply window."""
    if recipient is None or consent.current(recipient, item.channel) == "opted_out":
        detail = "The recipient opted out (or was erased) before the reply was sent."
        move(claimed, "failed", error={"code": "recipient_opted_out", "detail": detail})
        return "no_consent"
    if not messages_logic.reply_window_open(record.account_id, recipient, item.channel):
        code = "template_required" if item.channel == "whatsapp" else "reply_window_closed"
        detail = "The 24-hour reply window closed before sending."
        move(claimed, "failed", error={"code": code, "detail": detail})
        return "outside_window"
    return None


def deliver(
    record: SendRecord,
    *,
    receive_count: int = 1,
    adapter: Callable[[str], Carrier] = registry.carrier,
    breaker: routing.Breaker | None = None,
) -> str:
    """Deliver one record; returns what happened. Idempotent: redeliveries and concurrent workers send once."""
    item = store.get(record.account_id, record.message_id)
    if item is None:
        return "missing"
    if item.status in FINAL or RANK[item.status] >= RANK["sent"]:
        return "done"
    if not standing.allowed(record.account_id):
        # Closed or suspended: never handed to a carrier; a restore gives it back to the release job.
        return "held" if standing.hold_message(item) else "busy"
    if _expired(item):
        expire(item)
        return "expired"
    now = clock.timestamp()
    claimed = store.claim(record.account_id, record.message_id, now=now, lease_s=LEASE_S, at=clock.rfc3339(clock.now()))
    if claimed is None:
        return "busy"
    try:
        return _deliver_claimed(record, item, claimed, adapter=adapter, breaker=breaker, receive_count=receive_count)
    except RetryLater:
        raise
    except Exception:
        # AWS failed mid-delivery (a throttled read, a key KMS would not open): give the lease back so the record's
        # retry can claim it at once; an acceptance already written is recovered then, never sent again.
        _release_quietly(record)
        raise


def _apply_early(record: SendRecord, receipt: Receipt) -> None:
    """Receipts that came before the mapping was written; a failure here leaves them to the reconciliation job
    (the send itself is recorded: retrying the record would find the message `sent` and apply nothing)."""
    try:
        receipts.apply_early(receipt, (record.account_id, record.message_id))
    except Exception:
        logger.warning("early receipts not applied: reconciliation will check the message", exc_info=True)


def _release_quietly(record: SendRecord) -> None:
    try:
        store.release_lease(record.account_id, record.message_id)
    except Exception:  # the lease then lapses by itself after LEASE_S
        logger.warning("lease not released", exc_info=True)


def _deliver_claimed(
    record: SendRecord,
    item: Message,
    claimed: Message,
    *,
    adapter: Callable[[str], Carrier],
    breaker: routing.Breaker | None,
    receive_count: int,
) -> str:
    if claimed.events[-1].status == "sending" and item.status == "queued":
        publish_status(claimed)
    blocked = _blocked(record, item, claimed)
    if blocked is not None:
        return blocked
    if item.media and not media.available(item):
        # A file deleted after the message was queued: fail cleanly rather than hand a carrier a dead link.
        detail = "A file of this message was deleted before it was sent."
        move(claimed, "failed", error={"code": "media_unavailable", "detail": detail})
        return "media_unavailable"
    names = routing.carriers_for(item.channel, item.country, mode=item.mode or "live")
    try:
        result = routing.failover(
            _outbound(claimed),
            names,
            adapter=adapter,
            breaker=breaker or circuit.Breaker(),
            ledger=_AttemptLedger(record.account_id, record.message_id),
            pacer=pacing.Pacer(record.account_id, item.from_number),
            still_valid=lambda: not _expired(item),
            for_carrier=media.for_carrier(item),
        )
    except pacing.Paced:
        store.release_lease(record.account_id, record.message_id)
        raise RetryLater("paced") from None
    return _settle(record, claimed, result, receive_count=receive_count)


def _settle(record: SendRecord, claimed: Message, result: routing.Result, *, receive_count: int) -> str:
    """Record how failover ended: sent, expired, rejected, failed for good, or retried later (RetryLater)."""
    attempts = [
        *({"carrier": a.carrier, "outcome": a.outcome, "at": a.at} for a in claimed.attempts),
        *({"carrier": a.carrier, "outcome": a.outcome, "at": a.at} for a in result.attempts),
    ]
    if result.receipt is not None:
        receipt = result.receipt
        store.map_carrier_id(receipt.carrier, receipt.carrier_message_id, record.account_id, record.message_id)
        now = int(clock.timestamp())
        due = now + settings.get().receipt_check_after_s
        moved = move(
            claimed,
            "sent",
            carrier=receipt.carrier,
            attempts=attempts,
            lease_until=0,
            carrier_message_id=receipt.carrier_message_id,
            sent_at_s=now,
            sent_due=due,
        )
        if moved is None:
            # A carrier callback (found by our ref) overtook us: keep its status, record who carried it, and if
            # that was the carrier's own `sent`, put the message on the reconciliation index all the same.
            store.record_attempts(record.account_id, record.message_id, attempts, carrier=receipt.carrier)
            store.index_sent(
                record.account_id,
                record.message_id,
                carrier_message_id=receipt.carrier_message_id,
                sent_at_s=now,
                due=due,
            )
        _apply_early(record, receipt)
        metrics.add_metric(name="MessagesSent", unit="Count", value=1)
        logger.info("message accepted", extra={"carrier": receipt.carrier, "failover_s": round(result.seconds, 3)})
        return "sent"
    if result.expired:
        store.record_attempts(record.account_id, record.message_id, attempts)
        expire(claimed)
        return "expired"
    if result.rejected is not None:
        code = f"{result.attempts[-1].carrier}_{result.rejected.code}" if result.rejected.code else "carrier_rejected"
        move(claimed, "failed", error={"code": code, "detail": str(result.rejected)}, attempts=attempts)
        return "rejected"
    if receive_count >= MAX_RECEIVES:
        move(
            claimed,
            "failed",
            error={"code": "carriers_failed", "detail": "Every carrier refused or timed out."},
            attempts=attempts,
        )
        return "failed"
    store.record_attempts(record.account_id, record.message_id, attempts)
    store.release_lease(record.account_id, record.message_id)
    raise RetryLater("every carrier failed")

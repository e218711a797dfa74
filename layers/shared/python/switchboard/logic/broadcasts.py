"""Broadcasts: a list → consent filter → batched writes and SendMessageBatch; counts accepted and skipped."""

from __future__ import annotations

from collections.abc import Callable

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.dal import broadcasts as broadcasts_dal
from switchboard.dal import messages as store
from switchboard.dal import queues
from switchboard.dal import recipients as recipients_dal
from switchboard.dal.messages import Message
from switchboard.logic import consent, lists, templates
from switchboard.logic import media as media_logic
from switchboard.logic import messages as messages_logic
from switchboard.logic import recipients as recipients_logic
from switchboard.logic.repositories import BroadcastStore, MessageStore
from switchboard.models.errors import ValidationFailed
from switchboard.models.messages import BroadcastIn, BroadcastOut, Skipped
from switchboard.observability import logger, metrics

BATCH = store.BATCH_WRITE  # messages per write: a failed write rolls back only whole writes before it


def _members(account_id: str, list_id: str) -> list[str]:
    members: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = recipients_dal.members_page(account_id, list_id, limit=None, cursor=cursor)
        members += page
        if cursor is None:
            return members


def _in_window(account_id: str, recipients: list[recipients_dal.Recipient]) -> list[recipients_dal.Recipient]:
    """Recipients who wrote on WhatsApp within 24 hours: free-form text may reach only them (R62)."""
    indexes = [r.phone_index for r in recipients]
    last = recipients_dal.last_inbound_many(account_id, indexes, "whatsapp")
    now = clock.timestamp()
    return [
        r for r, i in zip(recipients, indexes, strict=True) if i in last and now - last[i] < messages_logic.WINDOW_S
    ]


Refund = Callable[..., None]  # messages_logic.refund: give back all of a charge, or `count` of it


def _store(
    items: list[Message],
    charge: messages_logic.Charge,
    *,
    messages: MessageStore = store,
    refund: Refund | None = None,
) -> None:
    """Write a broadcast's messages all or none: when a write fails, those written are deleted and all is refunded.

    The caller then answers 503 and a retry sends each message once. Should the rollback fail too, what stays
    stored stays charged (it is accepted and visible in the log) and only the rest is given back.
    """
    give_back = refund or messages_logic.refund
    attempted: list[str] = []  # a failed BatchWriteItem may have written part of its chunk: all are rolled back
    try:
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            attempted += [item.message_id for item in chunk]
            messages.put_many(chunk)
    except BaseException:
        try:
            messages.delete_many(charge.account_id, attempted)
        except Exception:  # what stays stored stays charged (accepted, in the log); the rest is refunded below
            logger.error("broadcast rollback failed", exc_info=True, extra={"attempted": len(attempted)})
            give_back(charge, charge.count - _still_stored(charge.account_id, attempted, messages=messages))
            raise
        give_back(charge)
        raise


def _still_stored(account_id: str, message_ids: list[str], *, messages: MessageStore = store) -> int:
    """How many of these messages are stored; all of them when even that cannot be read (never under-charged)."""
    try:
        return messages.count_existing(account_id, message_ids)
    except Exception:  # the refund then leaves charged all that may be stored
        logger.error("broadcast rollback not counted", exc_info=True)
        return len(message_ids)


def create(principal: Principal, body: BroadcastIn) -> BroadcastOut:
    """POST /v1/broadcasts → 202: reads in pages and batches of 100, writes in batches of 25, enqueues by 10."""
    if body.media is not None:
        raise media_logic.MediaNotAllowed(
            "Broadcasts carry no media yet: send the files with POST /v1/messages, one message per recipient.",
            errors=[{"pointer": "/media", "message": "Broadcasts carry no media."}],
        )
    if (body.body is None) == (body.template is None):
        raise ValidationFailed.at("/body", "Send exactly one of body or template.")
    if body.template is not None and body.channel != "whatsapp":
        raise ValidationFailed.at("/template", "Templates are for the whatsapp channel.")
    account_id = principal.account_id
    rendered = templates.check(account_id, body.template) if body.template is not None else None
    lists.fetch(account_id, body.list_id)
    members = _members(account_id, body.list_id)
    found = recipients_dal.get_many(account_id, members)
    consenting = [found[r] for r in members if consent.allows_send(found.get(r), body.channel)]
    eligible = (
        _in_window(account_id, consenting) if messages_logic.needs_window(body.channel, body.body) else consenting
    )
    from_number = messages_logic.sender(account_id, body.channel)
    broadcast_id = ids.new_id("brd")
    items = [
        messages_logic.new_item(
            account_id=account_id,
            channel=body.channel,
            from_number=from_number,
            to=recipients_logic.open_phone(account_id, recipient),
            country=recipient.country,
            recipient_id=recipient.recipient_id,
            body=body.body,
            template=body.template,
            rendered=rendered,
            mode=principal.mode,
            kind="broadcast",
            broadcast_id=broadcast_id,
        )
        for recipient in eligible
    ]
    # Charged for exactly what is about to be stored, once every message is built (finding 9).
    if items:
        _store(items, messages_logic.take_quota(account_id, principal.plan, len(items)))
    skipped = Skipped(no_consent=len(members) - len(consenting), outside_window=len(consenting) - len(eligible))
    return dispatch(account_id, broadcast_id, body.list_id, body.channel, items=items, skipped=skipped)


SendBatch = Callable[[str, str, list[str]], None]  # queues.send_batch: (channel, account id, message ids)


def dispatch(
    account_id: str,
    broadcast_id: str,
    list_id: str,
    channel: str,
    *,
    items: list[Message],
    skipped: Skipped,
    messages: MessageStore = store,
    broadcasts: BroadcastStore = broadcasts_dal,
    send_batch: SendBatch | None = None,
) -> BroadcastOut:
    """Queue a broadcast's stored messages (all held for the release job when queueing fails) and record it."""
    try:
        (send_batch or queues.send_batch)(channel, account_id, [item.message_id for item in items])
    except Exception:  # stored, perhaps partly queued: the outbox takes them all (a message queued twice sends once)
        logger.warning("broadcast left to the release job", exc_info=True, extra={"broadcast_id": broadcast_id})
        due = int(clock.timestamp())
        for item in items:
            messages.hold(account_id, item.message_id, due)
    broadcasts.put(
        account_id,
        broadcasts_dal.Broadcast(
            broadcast_id=broadcast_id,
            list_id=list_id,
            channel=channel,
            accepted=len(items),
            skipped_no_consent=skipped.no_consent,
            skipped_outside_window=skipped.outside_window,
            created_at=clock.rfc3339(clock.now()),
        ),
    )
    metrics.add_metric(name="MessagesAccepted", unit="Count", value=len(items))
    return BroadcastOut(id=broadcast_id, list_id=list_id, channel=channel, accepted=len(items), skipped=skipped)

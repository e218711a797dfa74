"""Conversations: who wrote to the account (newest first, unread counts), one timeline per recipient in both
directions, and agents' replies within the reply window."""

from __future__ import annotations

from switchboard import clock
from switchboard import files as rules
from switchboard.auth import Principal
from switchboard.dal import conversations as store
from switchboard.dal import messages as messages_dal
from switchboard.dal import recipients as recipients_dal
from switchboard.dal.messages import Inbound, Message
from switchboard.logic import consent
from switchboard.logic import media as media_logic
from switchboard.logic import messages as messages_logic
from switchboard.logic import recipients as recipients_logic
from switchboard.models.conversations import (
    ConversationOut,
    ConversationPage,
    MediaOut,
    ReplyIn,
    TimelineEntryOut,
    TimelinePage,
)
from switchboard.models.errors import Conflict, ProblemError, ValidationFailed
from switchboard.models.messages import MessageCreated
from switchboard.models.permissions import Permission, allows
from switchboard.models.recipients import mask_phone
from switchboard.observability import metrics
from switchboard.text import repaired


class RecipientOptedOut(Conflict):
    """409: the recipient opted out on this channel; a reply is refused like any other send (R62)."""

    code = "recipient_opted_out"


class ReplyWindowClosed(ProblemError):
    """422: the recipient has not written on this channel within the reply window (24 hours); nothing was queued."""

    status = 422
    code = "reply_window_closed"
    title = "Reply window closed"


def shows_content(principal: Principal) -> bool:
    """Whether the caller reads numbers in full and message bodies (content:read: not viewers)."""
    return allows(principal.role, Permission.CONTENT_READ)


def _window_until(last_inbound: int | None) -> str | None:
    if last_inbound is None or last_inbound + messages_logic.WINDOW_S <= clock.timestamp():
        return None
    return clock.rfc3339_at(last_inbound + messages_logic.WINDOW_S)


def list_page(principal: Principal, *, limit: int, cursor: str | None) -> ConversationPage:
    """GET /v1/conversations: recipients with recent activity, newest first, with unread counts."""
    account_id = principal.account_id
    rows, next_cursor = recipients_logic.paged(store.page, account_id, limit=limit, cursor=cursor)
    # Recipients being erased are not found: their conversations go with the erasure.
    recipients = recipients_dal.get_many(account_id, [row.recipient_id for row in rows])
    windows = recipients_dal.last_inbound_many(account_id, [r.phone_index for r in recipients.values()], "whatsapp")
    full = shows_content(principal)
    data = []
    for row in rows:
        recipient = recipients.get(row.recipient_id)
        if recipient is None:
            continue
        phone = recipients_logic.open_phone(account_id, recipient)
        name = recipients_dal.open_field(account_id, recipient, "name_sealed") if recipient.name_sealed else None
        data.append(
            ConversationOut(
                recipient_id=row.recipient_id,
                phone=phone if full else mask_phone(phone),
                name=repaired(name) if name is not None else None,
                last_message_at=clock.rfc3339_at(row.last_message_at),
                last_direction=row.last_direction,
                last_channel=row.last_channel,
                unread_count=row.unread_count,
                whatsapp_window_open_until=_window_until(windows.get(recipient.phone_index)),
            )
        )
    return ConversationPage(data=data, next_cursor=next_cursor)


def mark_read(principal: Principal, recipient_id: str) -> None:
    """POST /v1/conversations/{recipient_id}/read: nothing of theirs is unread (404 for an unknown recipient)."""
    recipient = recipients_logic.fetch(principal.account_id, recipient_id)
    store.mark_read(principal.account_id, recipient.recipient_id, at=int(clock.timestamp()))


def _outbound(principal: Principal, message: Message, full: bool) -> TimelineEntryOut:
    account_id = principal.account_id
    template = "template_sealed" in message.sealed
    body = None
    if full:
        field = "rendered_sealed" if template else "body_sealed"
        body = messages_logic.open_field(account_id, message, field)
    files = [
        MediaOut(
            kind=rules.kind_of(str(m["content_type"])),
            content_type=str(m["content_type"]),
            file_id=str(m["file_id"]),
            size=int(m["size"]),
        )
        for m in message.media or ()
    ]
    return TimelineEntryOut(
        id=message.message_id,
        direction="outbound",
        channel=message.channel,
        kind="template" if template else "media" if files else "text",
        body=body,
        media=files,
        status=message.status,
        at=message.created_at,
        in_reply_to=None,
    )


def _inbound(inbound: Inbound, full: bool) -> TimelineEntryOut:
    body = messages_dal.open_inbound(inbound, "body_sealed") if full and inbound.kind != "call" else None
    media = [
        MediaOut(
            kind=m["kind"],
            content_type=(m.get("content_type") or None) if full else None,
            status=m.get("status"),
            reason=m.get("reason"),
            file_id=m.get("file_id"),
            size=m.get("size"),
        )
        for m in inbound.media
    ]
    return TimelineEntryOut(
        id=inbound.inbound_id,
        direction="inbound",
        channel=inbound.channel,
        kind=inbound.kind,
        body=body,
        media=media,
        status=None,
        at=inbound.received_at,
        in_reply_to=inbound.in_reply_to,
    )


def timeline(principal: Principal, recipient_id: str, *, limit: int, cursor: str | None) -> TimelinePage:
    """GET /v1/recipients/{recipient_id}/messages: both directions, newest first, one index Query a page."""
    account_id = principal.account_id
    recipient = recipients_logic.fetch(account_id, recipient_id)
    entries, next_cursor = recipients_logic.paged(
        messages_dal.timeline, account_id, recipient.phone_index, limit=limit, cursor=cursor
    )
    full = shows_content(principal)
    data = [
        _outbound(principal, e, full) if isinstance(e, Message) else _inbound(e, full)
        for e in entries
        # The number's items are this recipient's, or unlinked ones from before it existed.
        if e.recipient_id in (None, recipient.recipient_id)
    ]
    return TimelinePage(data=data, next_cursor=next_cursor)


def reply(principal: Principal, recipient_id: str, body: ReplyIn) -> MessageCreated:
    """POST /v1/recipients/{recipient_id}/messages: free-form text to someone who wrote on this channel within
    24 hours (no opt-in needed: they wrote first); 409 recipient_opted_out; 422 template_required (WhatsApp) or
    reply_window_closed outside the window. Then the normal send path (queue, worker, failover)."""
    account_id = principal.account_id
    if body.body is None and not body.media:
        raise ValidationFailed.at("/body", "Send a body, media or both.")
    attached = (
        media_logic.attach(account_id, body.channel, body.media, body=body.body, template=False) if body.media else None
    )
    recipient = recipients_logic.fetch(account_id, recipient_id)
    if consent.current(recipient, body.channel) == "opted_out":
        raise RecipientOptedOut(f"The recipient opted out of {body.channel} messages; nothing was queued.")
    if not messages_logic.reply_window_open(account_id, recipient, body.channel):
        if body.channel == "whatsapp":
            raise messages_logic.TemplateRequired(
                "The recipient has not written on WhatsApp in the last 24 hours: only an approved template may be "
                "sent now (POST /v1/messages, with their opt-in); nothing was queued."
            )
        raise ReplyWindowClosed(
            f"The recipient has not written on {body.channel} in the last 24 hours: a reply is only for someone who "
            "wrote first. Send with their opt-in through POST /v1/messages instead; nothing was queued."
        )
    to = recipients_logic.open_phone(account_id, recipient)
    start = int(clock.timestamp())
    item = messages_logic.new_item(
        account_id=account_id,
        channel=body.channel,
        from_number=messages_logic.sender(account_id, body.channel),
        to=to,
        country=recipient.country,
        recipient_id=recipient.recipient_id,
        body=body.body,
        template=None,
        mode=principal.mode,
        kind=messages_logic.REPLY_KIND,
        media=attached,
    )
    with messages_logic.charged(messages_logic.take_quota(account_id, principal.plan, 1)):
        messages_logic.store_and_enqueue(item, start)
    metrics.add_metric(name="MessagesAccepted", unit="Count", value=1)
    messages_logic.touch_conversation(item)
    shown = messages_logic.render(principal, item, to=to, body=body.body)
    return MessageCreated(**shown.model_dump())

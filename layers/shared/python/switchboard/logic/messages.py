"""Messages: validate, check consent and quota, store sealed, enqueue (or hold); read and list the logs."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard import clock, ids, settings, webhook_client
from switchboard.auth import Principal
from switchboard.catalog import CHANNELS
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import conversations as conversations_dal
from switchboard.dal import messages as store
from switchboard.dal import queues, quota
from switchboard.dal import recipients as recipients_dal
from switchboard.dal.messages import Message
from switchboard.logic import consent, templates, webhook_events, webhooks
from switchboard.logic import media as media_logic
from switchboard.logic import recipients as recipients_logic
from switchboard.logic.repositories import MessageStore
from switchboard.models import plans
from switchboard.models.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    RateLimited,
    ValidationFailed,
)
from switchboard.models.message_status import MESSAGE_STATUSES
from switchboard.models.messages import (
    MAX_SEND_AHEAD_S,
    Attempt,
    CallOut,
    ErrorInfo,
    Event,
    MediaRef,
    MessageCreated,
    MessageIn,
    MessageOut,
    MessagePage,
    Template,
)
from switchboard.models.permissions import Permission, allows, masks_phone_numbers
from switchboard.models.recipients import InvalidPhone, mask_phone, parse_phone
from switchboard.observability import logger, metrics

WINDOW_S = 24 * 3600  # WhatsApp's customer-service window: free-form text only this long after the user wrote
REPLY_KIND = "reply"  # Message.kind of an agent's reply: the send worker checks the reply window, not an opt-in


class ConsentRequired(ProblemError):
    """No opt-in on this channel (or an opt-out): nothing was queued."""

    status = 422
    code = "consent_required"
    title = "Consent required"


class NotCancelable(Conflict):
    """409: the message was handed to a carrier already (or ended): it can no longer be canceled."""

    code = "message_not_cancelable"


class TemplateRequired(ProblemError):
    """WhatsApp free-form text outside the 24-hour customer-service window (R62): nothing was queued."""

    status = 422
    code = "template_required"
    title = "Template required"


def window_open(account_id: str, recipient: recipients_dal.Recipient) -> bool:
    """True when the recipient wrote to the account on WhatsApp within the last 24 hours."""
    return reply_window_open(account_id, recipient, "whatsapp")


def reply_window_open(account_id: str, recipient: recipients_dal.Recipient, channel: str) -> bool:
    """True when the recipient wrote to the account on `channel` within the last 24 hours (WhatsApp's customer-service
    window; the same reply window for SMS and voice, docs/conversations.md)."""
    last = recipients_dal.last_inbound(account_id, recipient.phone_index, channel)
    return last is not None and clock.timestamp() - last < WINDOW_S


def touch_conversation(message: Message) -> None:
    """Move the recipient's conversation (if they ever wrote) for a message we accepted; never fails the send."""
    if message.recipient_id is None:
        return
    try:
        conversations_dal.record_outbound(
            message.account_id, message.recipient_id, at=int(clock.timestamp()), channel=message.channel
        )
    except Exception:  # the conversation's activity is a convenience: the message is stored and queued
        logger.warning("conversation not updated", exc_info=True, extra={"message_id": message.message_id})


def needs_window(channel: str, body: str | None, *, media: bool = False) -> bool:
    """Only WhatsApp free-form messages (text, media) are bound to the window; templates are always allowed (with
    opt-in)."""
    return channel == "whatsapp" and (body is not None or media)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _rfc(epoch: float | None) -> str | None:
    return None if epoch is None else clock.rfc3339_at(epoch)


def validate(body: MessageIn) -> None:
    """The cross-field rules pydantic cannot express alone (422 with a pointer each)."""
    if (body.to is None) == (body.recipient_id is None):
        raise ValidationFailed.at("/to", "Send exactly one of to (E.164) or recipient_id.")
    if body.body is not None and body.template is not None:
        raise ValidationFailed.at("/body", "Send exactly one of body or template.")
    if body.body is None and body.template is None and not body.media:
        raise ValidationFailed.at("/body", "Send a body, a template or media.")
    if body.template is not None and body.channel != "whatsapp":
        raise ValidationFailed.at("/template", "Templates are for the whatsapp channel.")
    if body.record and body.channel != "voice":
        raise ValidationFailed.at("/record", "Only voice calls are recorded.")
    if body.to is not None:
        try:
            parse_phone(body.to)
        except InvalidPhone as error:
            raise ValidationFailed.at("/to", str(error)) from None
    if body.send_at is not None:
        if body.send_at.tzinfo is None:
            raise ValidationFailed.at("/send_at", "Give a time zone (RFC 3339, e.g. 2026-11-22T07:39:36Z).")
        ahead = body.send_at.timestamp() - clock.timestamp()
        if ahead <= 0:
            raise ValidationFailed.at("/send_at", "send_at must be in the future.")
        if ahead > MAX_SEND_AHEAD_S:
            raise ValidationFailed.at("/send_at", "send_at is at most 30 days ahead.")
    if body.callback_url is not None:
        check_callback_url(body.callback_url)


def require_callback_role(principal: Principal, body: MessageIn) -> None:
    """A callback_url is a webhook target chosen per message: only roles that may manage webhook endpoints set one.

    Otherwise a role refused the endpoints (an agent) could still aim the platform's HTTP client anywhere; 403
    `callback_url_forbidden`, before anything is charged or stored.
    """
    if body.callback_url is not None and not allows(principal.role, Permission.WEBHOOKS_MANAGE):
        raise Forbidden(
            f"Your role ({principal.role}) may send messages but not set a callback_url: that needs the role that "
            "manages webhook endpoints (owner, admin or developer). Send without callback_url, or use a key with "
            "that role.",
            code="callback_url_forbidden",
        )


def check_callback_url(url: str) -> None:
    """The webhook endpoints' SSRF rules (R42): https on 443 deployed, no private, loopback or link-local target.

    A name that does not resolve yet is accepted: every delivery resolves (and checks) it again.
    """
    config = settings.get()
    local = config.rules.loopback_webhooks
    try:
        target = webhook_client.parse_target(url, local=local)
        webhook_client.check_addresses(target, local=local, timeout_s=config.webhook_timeout_s)
    except webhook_client.TargetRefused as refused:
        if "does not resolve" not in str(refused):
            raise ValidationFailed.at("/callback_url", f"This callback URL is not allowed: {refused}.") from None
    except webhook_client.ResolveTimeout:
        pass  # a slow name server holds no API request: every delivery resolves and checks the name again


def sender(account_id: str, channel: str) -> str:
    """The account's own sender number for a channel."""
    account = accounts_dal.get_account(account_id)
    for item in (account.senders or []) if account else []:
        if item.channel == channel:
            return str(item.number)
    raise ProblemError("This account has no sender number for this channel.", code="no_sender")


def _resolve(account_id: str, body: MessageIn) -> recipients_dal.Recipient | None:
    if body.recipient_id is not None:
        return recipients_logic.fetch(account_id, body.recipient_id)
    e164 = parse_phone(body.to or "").e164
    found = recipients_dal.find_by_phone(account_id, recipients_logic.phone_index(account_id, e164))
    return recipients_dal.get(account_id, found) if found else None


@dataclass(frozen=True)
class Charge:
    """Messages counted against one day's quota: given back in full or in part when they are not all stored."""

    account_id: str
    day: str
    count: int


def take_quota(account_id: str, plan: str, count: int) -> Charge:
    """Charge `count` messages to today's quota, or 429 quota_exceeded until the next UTC day.

    Call it once everything else has been checked and built (finding 9: only what is accepted is charged), and
    store under `charged(...)`, which gives the charge back when the store fails.
    """
    now = clock.now()
    tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    day = now.strftime("%Y-%m-%d")
    ok = quota.take(account_id, day, count, limit=plans.daily_messages(plan), expires_at=_epoch(tomorrow) + 86400)
    if not ok:
        raise RateLimited(
            "The plan's daily message quota is used up; nothing was queued.",
            retry_after_s=math.ceil(tomorrow.timestamp() - clock.timestamp()),
            code="quota_exceeded",
        )
    return Charge(account_id=account_id, day=day, count=count)


def refund(charge: Charge, count: int | None = None) -> None:
    """Give back `count` (all by default) of a charge whose messages were not stored; never raises.

    The error that made the store fail is the one the caller must see (503): a refund that fails too is logged
    with what it owed, and the day's counter stays that much too high until it expires.
    """
    owed = charge.count if count is None else count
    if owed <= 0:
        return
    try:
        quota.give_back(charge.account_id, charge.day, owed)
    except Exception:  # logged, not raised: see above
        logger.error("quota refund failed", exc_info=True, extra={"owed": owed, "day": charge.day})


@contextmanager
def charged(charge: Charge) -> Iterator[None]:
    """Store what `charge` paid for inside this block: if the block raises, nothing was accepted and all is refunded."""
    try:
        yield
    except BaseException:
        refund(charge)
        raise


def seal(account_id: str, message_id: str, field: str, value: str) -> str:
    """Seal one field of a message item."""
    return store.seal(account_id, message_id, field, value)


def open_field(account_id: str, message: Message, field: str) -> str | None:
    """Open one sealed field of a message (None when absent, e.g. scrubbed)."""
    return store.open_field(account_id, message, field)


def new_item(
    *,
    account_id: str,
    channel: str,
    from_number: str,
    to: str,
    country: str,
    recipient_id: str | None,
    body: str | None,
    template: Template | None,
    mode: str,
    rendered: str | None = None,
    kind: str = "api",
    send_at: int | None = None,
    valid_until: int | None = None,
    callback_url: str | None = None,
    callback_secret: str | None = None,
    broadcast_id: str | None = None,
    record: bool | None = None,
    media: tuple[dict[str, Any], ...] | None = None,
) -> Message:
    """A message, number and content sealed; `held` when due later than SQS can delay it."""
    created_at = clock.rfc3339(clock.now())
    sealed = {"to_sealed": to}
    if body is not None:
        sealed["body_sealed"] = body
    if callback_secret is not None:
        sealed[store.CALLBACK_SECRET_FIELD] = callback_secret
    if template is not None:
        sealed["template_sealed"] = template.model_dump_json()
    if rendered is not None:
        # A template's text for carriers that send text (Twilio's WhatsApp matches it to the approved template).
        sealed["rendered_sealed"] = rendered
    late = send_at is not None and send_at - clock.timestamp() > queues.MAX_DELAY_S
    return store.new_message(
        account_id=account_id,
        message_id=ids.new_id("msg"),
        created_at=created_at,
        phone_index=recipients_logic.phone_index(account_id, to),
        held_until=send_at if late else None,
        sealed=sealed,
        channel=channel,
        status="queued",
        from_number=from_number,
        country=country,
        recipient_id=recipient_id,
        mode=mode,
        kind=kind,
        send_at=send_at,
        valid_until=valid_until,
        callback_url=callback_url,
        broadcast_id=broadcast_id,
        record=record,
        media=list(media) if media else None,
        attempts=[],
        events=[{"status": "queued", "at": created_at}],
        lease_until=0,
    )


Send = Callable[[Message], None]  # puts a stored message on its channel's queue


def enqueue(message: Message, *, messages: MessageStore = store, send: Send | None = None) -> None:
    """Put a stored message on its channel's queue now, delayed until `send_at` (unless it is held)."""
    if messages.is_held(message):
        return
    (send or _send)(message)


def _send(message: Message) -> None:
    delay = 0 if message.send_at is None else max(0, math.ceil(message.send_at - clock.timestamp()))
    queues.send(message.channel, message.account_id, message.message_id, delay_s=delay)


def store_and_enqueue(
    message: Message, start: int, *, messages: MessageStore = store, send: Send | None = None
) -> None:
    """Store a new message, then queue it, never losing it in between (an outbox on the held index).

    It is stored held (due at `start`) first: if SendMessage fails, or the function dies before it, the release job
    queues it within a minute. Once it is on its queue it is unheld; were that to fail, the release job's second
    record finds the message no longer queued and is dropped (nothing is sent twice).
    """
    if messages.is_held(message):
        messages.put(message)  # due later than SQS can delay: the release job queues it anyway
        return
    messages.put_held(message, start)
    try:
        (send or _send)(message)
        messages.unhold(message.account_id, message.message_id)
    except Exception:  # the message is stored: from here the release job owns it, whatever went wrong
        logger.warning("message left to the release job", exc_info=True, extra={"message_id": message.message_id})


def create(principal: Principal, body: MessageIn) -> MessageCreated:
    """POST /v1/messages → 202 queued; 422 consent_required or template_required (nothing queued); 429
    quota_exceeded. With a callback_url, the answer carries the message's signing secret, once."""
    require_callback_role(principal, body)
    validate(body)
    account_id = principal.account_id
    attached = (
        media_logic.attach(account_id, body.channel, body.media, body=body.body, template=body.template is not None)
        if body.media
        else None
    )
    rendered = templates.check(account_id, body.template) if body.template is not None else None
    recipient = _resolve(account_id, body)
    if not consent.allows_send(recipient, body.channel):
        raise ConsentRequired(f"The recipient has not opted in to {body.channel} messages; nothing was queued.")
    assert recipient is not None  # noqa: S101 - allows_send is False for None
    if needs_window(body.channel, body.body, media=bool(attached)) and not window_open(account_id, recipient):
        raise TemplateRequired(
            "The recipient has not written in the last 24 hours: WhatsApp allows only an approved template now; "
            "nothing was queued."
        )
    callback_secret = webhooks.new_secret() if body.callback_url is not None else None
    to = recipients_logic.open_phone(account_id, recipient)
    from_number = sender(account_id, body.channel)
    send_at = _epoch(body.send_at) if body.send_at is not None else None
    start = send_at if send_at is not None else int(clock.timestamp())
    item = new_item(
        account_id=account_id,
        channel=body.channel,
        from_number=from_number,
        to=to,
        country=recipient.country,
        recipient_id=recipient.recipient_id,
        body=body.body,
        template=body.template,
        rendered=rendered,
        mode=principal.mode,
        send_at=send_at,
        valid_until=start + body.validity_s if body.validity_s is not None else None,
        callback_url=body.callback_url,
        callback_secret=callback_secret,
        record=_records(account_id, body),
        media=attached,
    )
    # Charged once the message is checked and sealed, given back if it cannot be stored: a refused or failed send
    # costs no quota. Once stored it is accepted (a failed SendMessage leaves it to the release job).
    with charged(take_quota(account_id, principal.plan, 1)):
        store_and_enqueue(item, start)
    metrics.add_metric(name="MessagesAccepted", unit="Count", value=1)
    touch_conversation(item)
    shown = render(principal, item, to=to, body=body.body, template=body.template)
    return MessageCreated(**shown.model_dump(), callback_secret=callback_secret)


def render(
    principal: Principal,
    item: Message,
    *,
    to: str | None = None,
    body: str | None = None,
    template: Template | None = None,
    with_content: bool = True,
    erased: bool = False,
    messages: MessageStore = store,
) -> MessageOut:
    """The API shape of a message: viewers get a masked number and no content; nobody sees the number or content
    of a message to a recipient whose erasure has begun (before its scrub reaches this message)."""
    account_id = principal.account_id
    viewer = masks_phone_numbers(principal.role)
    number = None if erased else to if to is not None else messages.open_field(account_id, item, "to_sealed")
    if with_content and not viewer and not erased:
        body = body if body is not None else messages.open_field(account_id, item, "body_sealed")
        raw_template = messages.open_field(account_id, item, "template_sealed") if template is None else None
        template = template or (Template(**json.loads(raw_template)) if raw_template else None)
    else:
        body, template = None, None
    return MessageOut(
        id=item.message_id,
        status=item.status,
        channel=item.channel,
        from_=item.from_number,
        to=(mask_phone(number) if viewer else number) if number else None,
        recipient_id=None if erased else item.recipient_id,
        carrier=item.carrier,
        body=body,
        template=template,
        attempts=[Attempt.model_validate(a, from_attributes=True) for a in item.attempts],
        events=[Event.model_validate(e, from_attributes=True) for e in item.events],
        error=ErrorInfo(**item.error) if item.error else None,
        created_at=item.created_at,
        send_at=_rfc(item.send_at),
        valid_until=_rfc(item.valid_until),
        broadcast_id=item.broadcast_id,
        callback_url=item.callback_url,
        record=item.record,
        media=[MediaRef(**m) for m in item.media] if item.media else None,
        recording_id=item.recording_id,
        call=CallOut.model_validate(dict(item.call)) if item.call else None,
    )


def _records(account_id: str, body: MessageIn) -> bool | None:
    """Whether a voice call is recorded: as the message says, else the account's `record_calls` (off by default)."""
    if body.channel != "voice":
        return None
    if body.record is not None:
        return body.record
    account = accounts_dal.get_account(account_id)
    return bool(account is not None and account.record_calls)


def read(principal: Principal, message_id: str) -> MessageOut:
    """GET /v1/messages/{id}: with the attempts to reach its callback_url, if it has one."""
    item = store.get(principal.account_id, message_id) if message_id.startswith("msg_") else None
    if item is None:
        raise NotFound("No message with this id.")
    out = render(principal, item, erased=bool(_erasing(principal.account_id, [item])))
    if item.callback_url:
        out.callbacks = webhooks.message_callbacks(principal.account_id, message_id)
    return out


def cancel(
    principal: Principal,
    message_id: str,
    *,
    messages: MessageStore = store,
    publish: Callable[[Message], None] | None = None,
) -> MessageOut:
    """POST /v1/messages/{id}/cancel: a queued or scheduled message never goes out (`canceled`, `message.status`);
    409 message_not_cancelable once a worker took it or it ended; 404 for another account's or an unknown id."""
    item = messages.get(principal.account_id, message_id) if message_id.startswith("msg_") else None
    if item is None:
        raise NotFound("No message with this id.")
    canceled = messages.cancel(principal.account_id, message_id, at=clock.rfc3339(clock.now()))
    if canceled is None:
        current = messages.get(principal.account_id, message_id) or item
        raise NotCancelable(
            f"This message is {current.status}: only a queued or scheduled message can be canceled, before it is "
            "handed to a carrier."
        )
    metrics.add_metric(name="MessagesCanceled", unit="Count", value=1)
    (publish or webhook_events.publish_status)(canceled)
    return render(principal, canceled, messages=messages)


def _time_bound(value: str | None, name: str, default: str) -> str:
    if value is None:
        return default
    try:
        moment = clock.parse(value)
    except ValueError:
        raise BadRequest(f"{name} is an RFC 3339 time.", code="invalid_time") from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone.", code="invalid_time")
    try:
        return clock.rfc3339(moment)
    except OverflowError:
        # Year 1 at +23:59 or year 9999 at -23:59 is outside the range once converted to UTC.
        raise BadRequest(f"{name} is out of range once converted to UTC.", code="invalid_time") from None


STATUSES = frozenset(MESSAGE_STATUSES)


def list_page(
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    with_content: bool = False,
) -> MessagePage:
    """GET /v1/messages: newest first; filters status, channel, since, until (content only for break-glass reads)."""
    if status is not None and status not in STATUSES:
        raise BadRequest("Unknown status filter.", code="invalid_filter")
    if channel is not None and channel not in CHANNELS:
        raise BadRequest("Unknown channel filter.", code="invalid_filter")
    page: tuple[list[Message], str | None] = recipients_logic.paged(
        store.page,
        principal.account_id,
        limit=limit,
        cursor=cursor,
        since=_time_bound(since, "since", "0000"),
        until=_time_bound(until, "until", "9999"),
        status=status,
        channel=channel,
    )
    items, next_cursor = page
    erasing = _erasing(principal.account_id, items)
    return MessagePage(
        data=[render(principal, i, with_content=with_content, erased=i.recipient_id in erasing) for i in items],
        next_cursor=next_cursor,
    )


def _erasing(account_id: str, messages: list[Message]) -> set[str]:
    """The recipients of these messages that are being erased (or gone): one read for a whole page."""
    return recipients_dal.not_live(account_id, [m.recipient_id for m in messages if m.recipient_id])

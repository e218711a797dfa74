"""Carrier events: status callbacks (never backwards) and inbound messages (STOP / START / HELP keywords)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from switchboard import clock, ids
from switchboard.carriers.base import CarrierEvent, Media
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import conversations as conversations_dal
from switchboard.dal import messages as store
from switchboard.dal import queues
from switchboard.dal import recipients as recipients_dal
from switchboard.logic import consent, keywords, receipts, recordings, webhook_events
from switchboard.logic import messages as messages_logic
from switchboard.logic import recipients as recipients_logic
from switchboard.models.recipients import InvalidPhone, parse_phone

# CarrierEvent.extra key the WhatsApp adapter sets from the "stop promotions" preference: "stop" or "resume".
MARKETING_PREFERENCE = "marketing_messages"
DEDUPE_TTL_S = 7 * 86400
HELP_REPLY_VALID_S = 3600
MEDIA_JOB = "inbound_media"  # the CarrierMedia job kind of an inbound message's files (logic.inbound_media)
WINDOW_KEEP_S = 25 * 3600  # the window's record outlives the 24 hours a little, then the purge job removes it


def keyword(body: str) -> str | None:
    """`stop`, `start`, `help` or None: the body normalised, opting out whenever in doubt (logic.keywords)."""
    return keywords.classify(body)


def help_text(account_name: str) -> str:
    """The account's HELP answer."""
    return f"{account_name}: reply STOP to opt out, START to opt back in. Msg & data rates may apply."


def handle(event: CarrierEvent) -> str:
    """Apply one verified event once (duplicates by event id are no-ops); what happened, for the log."""
    if not store.first_sight(event.carrier, event.event_id, expires_at=int(clock.timestamp()) + DEDUPE_TTL_S):
        return "duplicate"
    try:
        if event.kind == "recording":
            return recordings.accept(event)
        return _status(event) if event.kind == "status" else _inbound(event)
    except Exception:
        store.forget_sight(event.carrier, event.event_id)  # let the carrier's retry through
        raise


def _status(event: CarrierEvent) -> str:
    # Never "unknown": a receipt that outruns its mapping is kept for the send worker (switchboard.logic.receipts).
    outcome = receipts.apply(event)
    if outcome == "updated":
        recordings.note_call(event)  # a call's duration, answered-by and price, when its final status says them
    return outcome


def _inbound(event: CarrierEvent) -> str:
    number = accounts_dal.find_number(event.to)
    if number is None:
        return "unknown_number"
    account_id = str(number.account_id)
    phone = None
    try:
        phone = parse_phone(event.from_)
        sender = phone.e164
    except InvalidPhone:
        sender = event.from_
    index = recipients_logic.phone_index(account_id, sender)
    recipient_id = recipients_dal.find_by_phone(account_id, index)
    if recipient_id is None and phone is not None:
        # Someone who writes first becomes a recipient (with no consent: writing is no opt-in).
        recipient_id = recipients_logic.on_first_contact(account_id, phone.e164, index, phone.country)
    inbound_id = ids.new_id("inb")
    in_reply_to = _answered(account_id, event)
    placeholders = [_placeholder(m) for m in event.media]
    sealed = {}
    if event.media:
        # The carrier's handles for the files (ids, URLs, names): for fetching them, never shown to customers.
        sealed["media_refs_sealed"] = json.dumps([dataclasses.asdict(m) for m in event.media])
    if event.extra.get("payload"):
        sealed["payload_sealed"] = event.extra["payload"]
    sent_at = _sent_at(event)
    # Found by its number so an erasure finds it; linked only to a recipient that is not being erased.
    recipient_id = store.put_inbound(
        account_id,
        inbound_id,
        sender=sender,
        from_index=index,
        body=event.body,
        recipient_id=recipient_id,
        sealed=sealed,
        carrier=event.carrier,
        carrier_event_id=event.event_id,
        channel=event.channel,
        kind=event.message_type,
        media=placeholders or None,
        in_reply_to=in_reply_to,
        to=event.to,
        received_at=event.at,
    )
    if recipient_id is not None:
        if event.message_type != "preference":  # a setting changed, nothing to read
            conversations_dal.record_inbound(account_id, recipient_id, at=sent_at, channel=event.channel)
        # Opens (or extends) the 24-hour reply window on this channel: WhatsApp's customer-service window for
        # free-form text (R62), and the reply window of SMS and voice (docs/conversations.md). Only a recipient's:
        # the window is read for recipients alone, and one being erased keeps none.
        recipients_dal.touch_inbound(account_id, recipient_id, index, event.channel, sent_at, keep_s=WINDOW_KEEP_S)
    word = keyword(event.body)
    source = "keyword"
    # "resume" only lifts WhatsApp's own block: it is no opt-in, which needs an explicit consent entry.
    if event.extra.get(MARKETING_PREFERENCE) == "stop":
        word, source = "stop", "carrier_preference"
    if word == "stop":
        # Per channel, whichever carrier it came through: a STOP on one carrier stops sends on all of them.
        consent.opt_out_by_phone(account_id, sender, event.channel, source=source)
    elif word == "start" and not (recipient_id and consent.restore_by_keyword(account_id, recipient_id, event.channel)):
        # START from someone who never opted in (or is not opted out) creates nothing: an ordinary message.
        word = None
    elif word == "help":
        _help_reply(account_id, event, sender, recipient_id)
    if event.media:
        # The files are fetched, checked and stored by media_worker, which sends the webhook once each one is stored
        # or failed (so it carries file ids). The job names the message only: no number, text or carrier URL.
        job = {
            "kind": MEDIA_JOB,
            "account_id": account_id,
            "message_id": inbound_id,
            "carrier": event.carrier,
            "keyword": word,
        }
        queues.send_all(recordings.QUEUE, [json.dumps(job)])
        return f"inbound:{word or event.message_type}:media_queued"
    data = webhook_data(
        inbound_id,
        carrier=event.carrier,
        channel=event.channel,
        kind=event.message_type,
        sender=sender,
        to=event.to,
        body=event.body,
        media=placeholders,
        payload=event.extra.get("payload") or None,
        in_reply_to=in_reply_to,
        recipient_id=recipient_id,
        keyword=word,
        received_at=event.at,
    )
    webhook_events.publish(account_id, "message.inbound", data, phone_index=index)
    return f"inbound:{word or event.message_type}"


def webhook_data(
    inbound_id: str,
    *,
    carrier: str,
    channel: str,
    kind: str,
    sender: str,
    to: str | None,
    body: str | None,
    media: list[dict[str, Any]],
    payload: str | None,
    in_reply_to: str | None,
    recipient_id: str | None,
    keyword: str | None,
    received_at: str | None,
) -> dict[str, Any]:
    """The `message.inbound` event's data (here for text, from media_worker once a message's files are settled)."""
    return {
        "id": inbound_id,
        "carrier": carrier,
        "channel": channel,
        "kind": kind,
        "from": sender,
        "to": to,
        "body": body,
        "media": media,
        "payload": payload,
        "in_reply_to": in_reply_to,
        "recipient_id": recipient_id,
        "keyword": keyword,
        "received_at": received_at,
    }


def _placeholder(media: Media) -> dict[str, str]:
    """What customers see of a file before media_worker settles it: its kind, type and `pending`, never the
    carrier's handle."""
    shown = {"kind": media.kind, "status": "pending"}
    if media.content_type:
        shown["content_type"] = media.content_type
    return shown


def _answered(account_id: str, event: CarrierEvent) -> str | None:
    """Our message id that the inbound answers, when the carrier names it by its own id and that message is this
    account's; an unknown id or another account's is no link (never a lead across accounts)."""
    if not event.reply_to:
        return None
    found = store.find_by_carrier_id(event.carrier, event.reply_to)
    if found is None or found[0] != account_id:
        return None
    return found[1]


def _sent_at(event: CarrierEvent) -> int:
    """When the user wrote (the carrier's time, never later than now: a clock ahead cannot stretch the window)."""
    now = int(clock.timestamp())
    try:
        moment = clock.parse(event.at)
    except ValueError:
        return now
    if moment.tzinfo is None:
        return now
    return min(now, int(moment.timestamp()))


def _help_reply(account_id: str, event: CarrierEvent, to: str, recipient_id: str | None) -> None:
    """HELP is answered through the normal send path; no consent is needed to answer a question."""
    account = accounts_dal.get_account(account_id)
    try:
        country = parse_phone(to).country
    except InvalidPhone:
        return
    item = messages_logic.new_item(
        account_id=account_id,
        channel=event.channel,
        from_number=event.to,
        to=to,
        country=country,
        recipient_id=recipient_id,
        body=help_text(account.name if account else "Switchboard"),
        template=None,
        mode="live",
        kind="help_reply",
        # An answer is due now: held by a closure, it goes out on a restore within the hour, else it expires.
        valid_until=int(clock.timestamp()) + HELP_REPLY_VALID_S,
    )
    store.put(item)
    messages_logic.enqueue(item)


@dataclasses.dataclass(frozen=True)
class VoiceCall:
    """What a carrier fetching a call's script gets: the text, and our ref when the call is recorded."""

    body: str
    record_ref: str = ""


def voice_call(account_id: str, message_id: str) -> VoiceCall | None:
    """The script of a voice call of ours (Plivo's answer URL), or None if there is none."""
    item = store.get(account_id, message_id)
    if item is None or item.channel != "voice":
        return None
    body = messages_logic.open_field(account_id, item, "body_sealed")
    if body is None:
        return None
    return VoiceCall(body, receipts.callback_ref(account_id, message_id) if item.record else "")

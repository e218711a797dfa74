"""Customer webhook events of messaging: one call per status transition, inbound message and opt-out."""

from __future__ import annotations

from typing import Any

from switchboard import clock
from switchboard.dal.messages import Message
from switchboard.logic import webhooks
from switchboard.observability import logger


def publish(
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    message: Message | None = None,
    phone_index: str | None = None,
) -> int:
    """Log the event for the account (GET /v1/events) and hand it to its subscribed webhook endpoints and to
    `message`'s own callback_url, if any (switchboard.logic.webhooks signs and delivers). `phone_index`: the blind
    index of the number it concerns (a message's own otherwise), so that person's erasure finds it."""
    queued = webhooks.publish(account_id, event_type, data, message=message, phone_index=phone_index)
    logger.debug("webhook event published", extra={"event_type": event_type, "deliveries": queued})
    return queued


def publish_status(message: Message) -> None:
    """`message.status` of a message that just moved: one per transition."""
    data: dict[str, Any] = {
        "id": message.message_id,
        "status": message.status,
        "channel": message.channel,
        "carrier": message.carrier,
        "recipient_id": message.recipient_id,
        "at": message.events[-1].at if message.events else clock.rfc3339(clock.now()),
    }
    if message.error:
        data["error"] = dict(message.error)
    if message.media:
        data["media"] = [dict(entry) for entry in message.media]  # ids, types and sizes: no content, no link
    # The message's own callback_url (if any) gets the same event, signed with the message's secret.
    publish(message.account_id, "message.status", data, message=message)

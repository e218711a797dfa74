"""Customer webhook events of messaging: one call per status transition, inbound message and opt-out."""

from __future__ import annotations

from typing import Any

from switchboard import clock
from switchboard.logic import webhooks
from switchboard.observability import logger


def publish(account_id: str, event_type: str, data: dict[str, Any], *, message: dict[str, Any] | None = None) -> int:
    """Hand the event to the account's subscribed webhook endpoints and to `message`'s own callback_url, if any
    (switchboard.logic.webhooks signs and delivers)."""
    queued = webhooks.publish(account_id, event_type, data, message=message)
    logger.debug("webhook event published", extra={"event_type": event_type, "deliveries": queued})
    return queued


def publish_status(item: dict[str, Any]) -> None:
    """`message.status` of a message item that just moved: one per transition."""
    data: dict[str, Any] = {
        "id": item["message_id"],
        "status": item["status"],
        "channel": item["channel"],
        "carrier": item.get("carrier"),
        "recipient_id": item.get("recipient_id"),
        "at": item["events"][-1]["at"] if item.get("events") else clock.rfc3339(clock.now()),
    }
    if item.get("error"):
        data["error"] = item["error"]
    # The message's own callback_url (if any) gets the same event, signed with the message's secret.
    publish(item["account_id"], "message.status", data, message=item)

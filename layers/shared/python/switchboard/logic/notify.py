"""Customer webhook events of messaging: one call per status transition, inbound message and opt-out."""

from __future__ import annotations

from typing import Any

from switchboard.logic import webhooks
from switchboard.observability import logger


def publish(account_id: str, event_type: str, data: dict[str, Any], *, message: dict[str, Any] | None = None) -> int:
    """Hand the event to the account's subscribed webhook endpoints and to `message`'s own callback_url, if any
    (switchboard.logic.webhooks signs and delivers)."""
    queued = webhooks.publish(account_id, event_type, data, message=message)
    logger.debug("webhook event published", extra={"event_type": event_type, "deliveries": queued})
    return queued

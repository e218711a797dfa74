"""Customer webhooks: publish events to subscribed endpoints, sign and deliver them, retry with backoff (R42)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from switchboard import clock, ids
from switchboard.crypto import envelope
from switchboard.dal import webhooks as webhooks_dal
from switchboard.models.webhooks import DeliveryJob, EventType

SIGNATURE_HEADER = "Switchboard-Signature"
EVENT_ID_HEADER = "Switchboard-Event-Id"
SIGNATURE_TOLERANCE_S = 300
EVENT_TABLE = "Callbacks"  # where a sealed event lives, for its associated data: the queue, not a table
EVENT_FIELD = "event"


def _event_place(event_id: str) -> dict[str, str]:
    return {"table": EVENT_TABLE, "item_key": f"EVT#{event_id}", "field": EVENT_FIELD}


def publish(account_id: str, event_type: str, data: dict[str, Any]) -> int:
    """Queue one signed delivery of a new event per endpoint of the account subscribed to `event_type`.

    The event (it may carry a phone number or an inbound body) is sealed with the account's key: the queue holds
    ids and ciphertext only. Returns how many deliveries were queued.
    """
    kind = EventType(event_type)  # an unknown type is a programming error: ValueError
    endpoints = [e for e in webhooks_dal.list_endpoints(account_id) if kind.value in e.events]
    if not endpoints:
        return 0
    event_id = ids.new_id("evt")
    event = {"id": event_id, "type": kind.value, "created_at": clock.rfc3339(clock.now()), "data": data}
    sealed = envelope.seal(account_id, json.dumps(event, separators=(",", ":")), **_event_place(event_id))
    jobs = [
        DeliveryJob(
            account_id=account_id,
            endpoint_id=endpoint.endpoint_id,
            event_id=event_id,
            event_type=kind.value,
            sealed_event=sealed,
        ).model_dump_json()
        for endpoint in endpoints
    ]
    webhooks_dal.enqueue(jobs)
    return len(jobs)


def open_event(job: DeliveryJob) -> str:
    """The event's JSON text (the request body), opened with the account's key."""
    return envelope.open_sealed(job.account_id, job.sealed_event, **_event_place(job.event_id))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Switchboard-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now: float, tolerance: int = SIGNATURE_TOLERANCE_S) -> bool:
    """Receiver side: True when some `v1` in `header` signs `body` with `secret` and `t` is within `tolerance` s.

    Several `v1=` entries may appear (e.g. during a secret's rotation); any one matching is enough.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)

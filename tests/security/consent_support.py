"""Consent suites: signed inbound messages from a number, consent writes and ledger reads through the handlers."""

from __future__ import annotations

import json
import time
from typing import Any

from functions.carrier_events import handler as carrier_events
from functions.recipients_api import handler as recipients_api
from switchboard import clock
from switchboard.carriers import sandbox
from tests.integration.messaging.conftest import SIGNING_KEY, Account, Answer, call

PHONE = "+14155552671"
EVIDENCE = {"text_version": "terms-v4", "ip": "203.0.113.9", "user_agent": "Firefox", "captured_at": ""}


def inbound(
    account: Account,
    body: str,
    *,
    phone: str = PHONE,
    carrier: str = "sandbox-a",
    channel: str = "sms",
    **extra: Any,
) -> Answer:
    """A message from `phone` to the account's sender on `channel`, signed as `carrier` signs it."""
    event = {
        "type": "message.inbound",
        "id": f"sbxevt_{time.monotonic_ns()}",
        "carrier": carrier,
        "channel": channel,
        "from": phone,
        "to": account.senders[channel],
        "body": body,
        "received_at": clock.rfc3339(clock.now()),
        **extra,
    }
    raw = json.dumps(event)
    signature = sandbox.sign(SIGNING_KEY, raw.encode(), int(clock.timestamp()))
    answer = call(
        carrier_events, "POST", f"/v1/carriers/{carrier}/events", raw=raw, headers={sandbox.SIGNATURE_HEADER: signature}
    )
    assert answer.status == 200, answer.body
    return answer


def _paced(account: Account, *args: Any, **kwargs: Any) -> Answer:
    """account.call, paced like a well-behaved client: the account's rate limit is not under test."""
    clock.advance(0.2)
    return account.call(recipients_api, *args, **kwargs)


def recipient(account: Account, phone: str = PHONE) -> str:
    """The number's recipient: a new one, or the one its first message to the account made (issue 14)."""
    created = _paced(account, "POST", "/v1/recipients", {"phone": phone})
    if created.status == 409 and created.body["code"] == "recipient_exists":
        return str(created.body["existing_id"])
    assert created.status == 201, created.body
    return str(created.body["id"])


def record(account: Account, rid: str, channel: str, status: str, source: str, **fields: Any) -> Answer:
    """POST /v1/recipients/{id}/consents (an agent key)."""
    payload = {"channel": channel, "status": status, "source": source, **fields}
    return _paced(account, "POST", f"/v1/recipients/{rid}/consents", payload, role="agent")


def ledger(account: Account, rid: str) -> list[dict[str, Any]]:
    """The recipient's ledger, oldest first."""
    answer = _paced(account, "GET", f"/v1/recipients/{rid}/consents")
    assert answer.status == 200, answer.body
    return list(answer.body["data"])


def state(account: Account, rid: str) -> dict[str, Any]:
    """The recipient's current consent per channel."""
    return dict(_paced(account, "GET", f"/v1/recipients/{rid}").body["consent"])


def evidence(**overrides: Any) -> dict[str, Any]:
    """Evidence of a fresh consent, captured now."""
    return {**EVIDENCE, "captured_at": clock.rfc3339(clock.now()), **overrides}

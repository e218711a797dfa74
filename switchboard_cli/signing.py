"""Webhook signatures as Switchboard's deliveries carry them, for `webhooks listen` (the CLI never imports the
platform's Lambda layer: tests/unit/test_switchboard_cli_listen.py proves these equal `switchboard.logic.webhooks`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every signing secret, not a secret  # pragma: allowlist secret
USER_AGENT = "Switchboard-Webhooks/1"  # what real deliveries send


def new_secret() -> str:
    """A fresh 256-bit signing secret, `whsec_` and standard base64 (the form Standard Webhooks libraries decode)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`Switchboard-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>`, key = the secret's base64 bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(mac).decode()}"


def headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header a real delivery of this event carries, signed with `secret`."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Switchboard-Event-Id": event_id,
        "Switchboard-Signature": signature(secret, timestamp, body),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, event_id, timestamp, body),
    }

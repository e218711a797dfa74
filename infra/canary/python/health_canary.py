"""Synthetics canary: GET /v1/health through Cloudflare; where configured, an authenticated send (docs/alarms.md)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

TIMEOUT_S = 10
USER_AGENT = "switchboard-canary/1"


class CanaryFailed(Exception):
    """A step's answer was not the one a healthy stage gives (the run fails: SuccessPercent drops, the alarm fires)."""


def call(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """One HTTPS request: (status, JSON body or {})."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the stage's own https URL
    request.add_header("User-Agent", USER_AGENT)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


def check_health(base_url: str) -> None:
    """The public liveness route answers 200 (DNS, Cloudflare, mTLS origin, WAF, API Gateway, Lambda all up)."""
    status, body = call("GET", f"{base_url}/v1/health")
    if status != 200:
        raise CanaryFailed(f"GET /v1/health answered {status}: {body}")


def check_send(base_url: str, credentials: dict[str, Any]) -> str:
    """An authenticated send with the canary account's API key to its own opted-in number: 202 queued.

    Exercises the authorizer, the rate limiter, idempotency, consent and the send queue: what /v1/health skips.
    """
    api_key, to = str(credentials.get("api_key") or ""), str(credentials.get("to") or "")
    if not api_key or not to:
        raise CanaryFailed("the canary secret needs api_key and to (docs/runbooks.md#alarm-canary)")
    status, body = call(
        "POST",
        f"{base_url}/v1/messages",
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": str(uuid.uuid4())},
        body={"to": to, "channel": "sms", "body": "Switchboard canary", "validity_s": 300},
    )
    if status != 202 or body.get("status") != "queued":
        raise CanaryFailed(f"POST /v1/messages answered {status}: {body.get('code') or body}")
    return str(body.get("id", ""))


def _secret(arn: str) -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - in the Synthetics runtime; only the send step needs it

    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    parsed = json.loads(value)
    return parsed if isinstance(parsed, dict) else {}


def run(env: dict[str, str], read_secret: Callable[[str], dict[str, Any]] = _secret) -> str:
    """Every step the stage's environment asks for."""
    base_url = env["BASE_URL"].rstrip("/")
    check_health(base_url)
    secret_arn = env.get("SEND_SECRET_ARN", "")
    if not secret_arn:
        return "health ok"
    return f"health ok, send {check_send(base_url, read_secret(secret_arn))} queued"


def handler(event: Any, context: Any) -> str:
    """The Synthetics entry point (`health_canary.handler`)."""
    return run(dict(os.environ))

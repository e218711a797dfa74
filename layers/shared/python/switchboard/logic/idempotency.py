"""Idempotent POSTs (API.md): one `Idempotency-Key` per account runs once; retries replay its first response."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from switchboard import auth, clock
from switchboard.crypto import envelope
from switchboard.dal import idempotency as store
from switchboard.models.errors import BadRequest, ProblemError
from switchboard.observability import logger

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotency-Replay"
RETENTION_S = 24 * 3600
IN_PROGRESS_RETRY_AFTER_S = 1  # most requests finish within a second; the lock itself lasts the function timeout
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Far below DynamoDB's 400 KB item limit; a bigger response is answered but not kept for replay.
MAX_STORED_BYTES = 300_000
# The stored document's version: 2 keeps the checks the first request passed, and never a one-time secret.
_FORMAT = 2


class IdempotencyKeyReused(ProblemError):
    """The key was first used for a different request."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "idempotency_key_reused"
    title: ClassVar[str] = "Idempotency key reused"


class IdempotencyInProgress(ProblemError):
    """The first request with this key has not finished yet."""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "idempotency_in_progress"
    title: ClassVar[str] = "Request in progress"


class IdempotencySecretShown(ProblemError):
    """The key's first answer showed a one-time secret: it is never shown again (the object exists: `id`)."""

    status: ClassVar[int] = 409
    code: ClassVar[str] = "idempotency_secret_shown"
    title: ClassVar[str] = "Secret already shown"


@dataclass(frozen=True)
class Claim:
    """This request holds the key: run it, then `finish`."""

    account_id: str
    key: store.Slot
    fingerprint: str
    token: str


@dataclass(frozen=True)
class Replay:
    """The key's first request: the checks it passed and its answer (None when that showed a one-time secret)."""

    checks: list[str]
    response: dict[str, Any] | None
    created_id: str | None = None
    legacy: bool = False  # kept before replays re-ran their checks


def key_from(event: dict[str, Any]) -> str | None:
    """The request's Idempotency-Key, None without one; BadRequest when it is not 1-255 visible ASCII characters."""
    wanted = HEADER.lower()
    value: str | None = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == wanted), None)
    if value is None:
        values = next((v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() == wanted), None)
        value = values[0] if values else None
    if value is None:
        return None
    if not isinstance(value, str) or not _VALID_KEY.fullmatch(value):
        raise BadRequest(
            f"{HEADER} must be 1 to 255 visible ASCII characters.",
            code="invalid_idempotency_key",
        )
    return value


def fingerprint(*, principal: str, method: str, path: str, body: str | None) -> str:
    """What makes two requests "the same": caller, method, path and the exact body."""
    # The principal is part of it so that one member cannot replay another's response (e.g. a new API key's secret).
    canonical = json.dumps([principal, method.upper(), path, body or ""], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(*, account_id: str, key: str, request_fingerprint: str, lock_s: float) -> Claim | Replay:
    """Claim `key` for this request (one PutItem), or replay its completed first response, or refuse."""
    place = store.slot(account_id, key)
    now_ms = int(clock.timestamp() * 1000)
    token = secrets.token_hex(16)
    held = store.claim(
        place,
        fingerprint=request_fingerprint,
        token=token,
        now_ms=now_ms,
        lock_until_ms=now_ms + int(lock_s * 1000),
        expires_at=now_ms // 1000 + RETENTION_S,
    )
    if held is None:
        return Claim(account_id=account_id, key=place, fingerprint=request_fingerprint, token=token)
    if held.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(f"This {HEADER} was already used for a different request.")
    if held.status != store.COMPLETED or held.response is None:
        raise IdempotencyInProgress(
            f"A request with this {HEADER} is still in progress; retry shortly.",
            headers={"Retry-After": str(IN_PROGRESS_RETRY_AFTER_S)},
        )
    stored = json.loads(store.open_response(place, held.response))
    if not isinstance(stored, dict) or stored.get("v") != _FORMAT:
        # Kept before replays re-ran their checks: what it passed is unknown, so it is not replayed.
        return Replay(checks=[], response=None, legacy=True)
    return Replay(checks=list(stored["checks"]), response=stored.get("response"), created_id=stored.get("id"))


def replay(started: Replay, principal: auth.Principal) -> dict[str, Any]:
    """The first answer again, for a caller who passes the first request's checks now; raises what they fail."""
    auth.recheck(principal, started.checks)
    if started.legacy:
        raise IdempotencySecretShown(
            f"The first request with this {HEADER} was kept in a form that cannot be replayed safely;"
            f" retry with a new {HEADER} after checking whether it took effect."
        )
    if started.response is None:
        extra = {"id": started.created_id} if started.created_id else None
        raise IdempotencySecretShown(
            f"The first request with this {HEADER} showed a one-time secret, which is never shown again"
            + (f"; it created {started.created_id}." if started.created_id else ".")
            + f" Revoke or delete it if the secret was lost, and retry with a new {HEADER}.",
            extra=extra,
        )
    response = dict(started.response)
    headers = response.setdefault("multiValueHeaders", {})
    headers[REPLAY_HEADER] = ["true"]
    return response


def _created_id(result: dict[str, Any]) -> str | None:
    try:
        body = json.loads(result.get("body") or "")
    except ValueError:
        return None
    value = body.get("id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def finish(claim: Claim, result: dict[str, Any], *, checks: list[str], shows_secret: bool) -> None:
    """Keep the response (sealed) and the checks it passed for replay; a 5xx is forgotten so a retry reruns.

    An answer that showed a one-time secret is kept as the id it created only: the secret is never stored.
    """
    status_code = int(result.get("statusCode", 500))
    if status_code >= 500:
        store.release(claim.key, token=claim.token)
        return
    document: dict[str, Any] = {"v": _FORMAT, "checks": checks}
    if shows_secret:
        document["id"] = _created_id(result)
    else:
        document["response"] = {
            k: result[k]
            for k in ("statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded")
            if k in result
        }
    try:
        sealed = store.seal_response(claim.key, json.dumps(document))
    except envelope.KeyShredded:
        # The account is being deleted: nothing of it may be stored any more, so the key is simply released.
        store.release(claim.key, token=claim.token)
        return
    if len(sealed) > MAX_STORED_BYTES:
        logger.warning("idempotent response too large to keep", extra={"status_code": status_code})
        store.release(claim.key, token=claim.token)
        return
    stored = store.complete(
        claim.key,
        fingerprint=claim.fingerprint,
        token=claim.token,
        status_code=status_code,
        response=sealed,
        expires_at=int(clock.timestamp()) + RETENTION_S,
    )
    if not stored:
        logger.warning("idempotency lock lost before the response was stored", extra={"status_code": status_code})


def abandon(claim: Claim) -> None:
    """Release the key after the request failed without a response (it may be retried)."""
    store.release(claim.key, token=claim.token)

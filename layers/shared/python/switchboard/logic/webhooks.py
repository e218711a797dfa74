"""Customer webhooks: publish events to subscribed endpoints, sign and deliver them, retry with backoff (R42)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit

from switchboard import clock, ids, settings, webhook_client
from switchboard.auth import Principal
from switchboard.carriers.circuit import Breaker
from switchboard.crypto import envelope
from switchboard.dal import circuits, queues
from switchboard.dal import messages as messages_dal
from switchboard.dal import webhooks as webhooks_dal
from switchboard.dal.cursors import InvalidCursor
from switchboard.dal.events import StoredEvent
from switchboard.dal.webhooks import Delivery, Endpoint, PreviousSecret
from switchboard.logic import audit, caps, standing
from switchboard.models import paging
from switchboard.models.errors import Conflict, NotFound, ValidationFailed
from switchboard.models.request import RequestMeta
from switchboard.models.webhooks import (
    MAX_ATTEMPTS,
    DeliveryJob,
    DeliveryList,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EventType,
    PreviousSecretOut,
    RotateSecretIn,
    SecretRotated,
)
from switchboard.observability import logger, metrics
from switchboard.webhook_client import Answer, TargetRefused

if TYPE_CHECKING:
    from switchboard.logic.ports import AuditLog

SIGNATURE_HEADER = "Switchboard-Signature"
EVENT_ID_HEADER = "Switchboard-Event-Id"
# Standard Webhooks (R42; https://www.standardwebhooks.com): the same delivery, signed as its libraries verify it.
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105  # pragma: allowlist secret - the prefix of every signing secret
# A rotation keeps at most this many replaced secrets signing (each for at most 24 h): deliveries carry at most
# three signatures, and a third rotation within a day waits or ends the overlap (grace_s 0).
MAX_PREVIOUS_SECRETS = 2
SIGNATURE_TOLERANCE_S = 300
USER_AGENT = "Switchboard-Webhooks/1"
MAX_BACKOFF_S = 3600
JITTER = 0.1  # each delay is its nominal value +/- 10 %, so a burst of failures does not retry in lockstep
DELIVERY_LOG_DAYS = 30
# The account's event log (GET /v1/events): shorter than Stripe's 30 days, since events carry numbers and bodies.
EVENT_LOG_DAYS = 3
# Per endpoint (or account and callback origin): a timeout, or 3 failed batches within 5 min, open its circuit; its
# jobs are then deferred (no HTTP) until one probe after 60 s. Jobs keep their backoff schedule: nothing reaches the
# DLQ sooner than API.md's 24 h.
FAILURES_TO_OPEN = 3
FAILURE_WINDOW_S = 300.0
COOLDOWN_S = 60.0
MAX_PARALLEL = 10  # origins posted at once in one batch (the event source's batch size)
DONE = frozenset({"delivered", "dropped", "held"})  # held: kept for the account's restore (logic.standing)


class WebhookStore(Protocol):
    """Endpoints, their delivery log and sealed events: `dal.webhooks` (moto tests), or an in-memory fake."""

    def new_endpoint(
        self,
        account_id: str,
        endpoint_id: str,
        *,
        url: str,
        events: set[str],
        secret: str,
        created_by: str,
        created_at: int,
    ) -> Endpoint: ...
    def put_endpoint(self, endpoint: Endpoint, *, cap: int) -> Endpoint: ...
    def list_endpoints(self, account_id: str) -> list[Endpoint]: ...
    def get_endpoint(self, account_id: str, endpoint_id: str) -> Endpoint | None: ...
    def delete_endpoint(self, endpoint: Endpoint) -> None: ...
    def endpoint_secret(self, endpoint: Endpoint) -> str: ...
    def previous_secret(self, endpoint: Endpoint, previous: PreviousSecret) -> str: ...
    def rotate_secret(
        self, endpoint: Endpoint, *, secret: str, previous: tuple[PreviousSecret, ...]
    ) -> Endpoint | None: ...
    def put_delivery(self, account_id: str, delivery: Delivery) -> None: ...
    def list_deliveries(
        self, account_id: str, endpoint_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Delivery], str | None]: ...
    def seal_event(self, account_id: str, event_id: str, text: str) -> str: ...
    def open_event(self, account_id: str, event_id: str, sealed: str) -> str: ...
    def log_event(
        self,
        account_id: str,
        event: StoredEvent,
        *,
        expires_at: int,
        recipient_id: str | None = None,
        phone_index: str | None = None,
    ) -> None: ...


class CallbackQueue(Protocol):
    """The Callbacks queue as delivery uses it: `dal.queues`, or a fake that keeps the jobs and their delays."""

    def send_all(self, queue: str, bodies: Sequence[str]) -> None: ...
    def change_visibility(self, queue: str, receipt_handle: str, seconds: int) -> None: ...


@dataclass(frozen=True)
class Ports:
    """What the webhook rules keep, send and audit through: the dal, the queue and the audit trail in production,
    in-memory fakes in tests (tests/unit/test_webhooks_on_fakes.py)."""

    store: WebhookStore = webhooks_dal
    queue: CallbackQueue = queues
    trail: AuditLog = audit


LIVE = Ports()


def publish(
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    message: messages_dal.Message | None = None,
    phone_index: str | None = None,
    ports: Ports = LIVE,
) -> int:
    """Log a new event for the account and queue one signed delivery of it per endpoint subscribed to `event_type`.

    Every event is kept in the account's event log (GET /v1/events) for EVENT_LOG_DAYS, whether or not an endpoint
    wants it, so a developer without a public URL receives it too (`switchboard webhooks listen`). `phone_index`
    (else `message`'s): the blind index of the number it concerns, so that person's erasure removes it.
    `message` (a message item with a `callback_url`) also gets the event at its own URL: the same event id,
    queue, worker, SSRF rules, retries and signature scheme, signed with the message's own secret.
    The event (it may carry a phone number or an inbound body) is sealed with the account's key: the log and the
    queue hold ids and ciphertext only. Returns how many deliveries were queued.
    """
    kind = EventType(event_type)  # an unknown type is a programming error: ValueError
    event_id = ids.new_id("evt")
    now = clock.now()
    event = {"id": event_id, "type": kind.value, "created_at": clock.rfc3339(now), "data": data}
    try:
        sealed = ports.store.seal_event(account_id, event_id, json.dumps(event, separators=(",", ":")))
    except envelope.KeyShredded:
        # A purged account's late news (a carrier's receipt): nobody is left to tell, and nothing can be sealed.
        logger.info("account key shredded: event not published", extra={"event_type": kind.value})
        return 0
    recipient = data.get("recipient_id")
    ports.store.log_event(
        account_id,
        StoredEvent(event_id=event_id, event_type=kind.value, created_at=int(now.timestamp()), sealed=sealed),
        expires_at=int(now.timestamp()) + EVENT_LOG_DAYS * 86400,
        recipient_id=recipient if isinstance(recipient, str) else None,
        phone_index=phone_index or (message.phone_index if message is not None else None),
    )
    endpoints = [e for e in ports.store.list_endpoints(account_id) if kind.value in e.events]
    targets: list[dict[str, str]] = [{"endpoint_id": endpoint.endpoint_id} for endpoint in endpoints]
    if message is not None and message.callback_url:
        targets.append({"message_id": message.message_id})
    if not targets:
        return 0
    jobs = [
        DeliveryJob(
            account_id=account_id, event_id=event_id, event_type=kind.value, sealed_event=sealed, **target
        ).model_dump_json(exclude_none=True)
        for target in targets
    ]
    ports.queue.send_all(queues.CALLBACKS, jobs)
    return len(jobs)


def open_event(job: DeliveryJob, *, ports: Ports = LIVE) -> str:
    """The event's JSON text (the request body), opened with the account's key."""
    return ports.store.open_event(job.account_id, job.event_id, job.sealed_event)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Switchboard-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    return sign_all([secret], timestamp, body)


def sign_all(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<t>,v1=<hex>,v1=<hex>...`: one `v1` per signing secret (during a rotation's overlap, the new one first)."""
    signed = f"{timestamp}.".encode() + body
    return ",".join(
        [f"t={timestamp}", *(f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets_)]
    )


def standard_key(secret: str) -> bytes:
    """The HMAC key Standard Webhooks derives from a `whsec_<base64>` secret: the decoded bytes.

    Secrets issued before Standard Webhooks signing (and rotation) were base64url; their key is decoded from that
    alphabet (official libraries expect standard base64: such an endpoint rotates once to use them, docs/webhooks.md).
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        if "-" in encoded or "_" in encoded:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()  # not base64 at all (a foreign secret): its bytes, so signing never fails


def standard_signature(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>` per secret, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        f"v1,{base64.b64encode(hmac.new(standard_key(s), signed, hashlib.sha256).digest()).decode()}" for s in secrets_
    )


def verify_standard(
    secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """Receiver side, as the Standard Webhooks spec verifies: some `v1,` signature in `webhook-signature` signs
    `<webhook-id>.<webhook-timestamp>.<body>` with the secret's key, and the timestamp is within `tolerance` s."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get(STANDARD_ID_HEADER, "")
    stamp = lower.get(STANDARD_TIMESTAMP_HEADER, "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    expected = standard_signature([secret], msg_id, int(stamp), body).partition(",")[2]
    candidates = [
        value
        for version, _, value in (p.partition(",") for p in lower.get(STANDARD_SIGNATURE_HEADER, "").split())
        if version == "v1"
    ]
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)


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


# --- Retry schedule -------------------------------------------------------------------------------------------


def nominal_backoff_s(attempt: int, base_s: int) -> int:
    """The delay after failed attempt `attempt` (1-based): base, doubling, capped at an hour."""
    return int(min(base_s * 2 ** min(attempt - 1, 32), MAX_BACKOFF_S))


def backoff_s(attempt: int, base_s: int | None = None) -> int:
    """The jittered delay before the next attempt (SQS visibility; at most 12 h, ours is at most 66 min)."""
    nominal = nominal_backoff_s(attempt, settings.get().webhook_retry_base_s if base_s is None else base_s)
    factor = 1 - JITTER + 2 * JITTER * secrets.randbelow(1001) / 1000
    return max(1, round(nominal * factor))


def schedule(base_s: int, attempts: int = MAX_ATTEMPTS) -> list[int]:
    """Nominal delays between `attempts` attempts: the last attempt comes sum(schedule) seconds after the first."""
    return [nominal_backoff_s(n, base_s) for n in range(1, attempts)]


# --- Endpoints ------------------------------------------------------------------------------------------------


def _url_problem(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"This webhook URL is not allowed: {message}.",
        errors=[{"pointer": "/url", "message": message}],
        code="invalid_webhook_url",
    )


def check_url(url: str) -> str:
    """The URL if we may post to it: form rules, and a host that resolves to no forbidden address (422 otherwise).

    A name that does not resolve yet is accepted: delivery resolves (and checks) it again every time.
    """
    config = settings.get()
    local = config.rules.loopback_webhooks
    try:
        target = webhook_client.parse_target(url, local=local)
        webhook_client.check_addresses(target, local=local, timeout_s=config.webhook_timeout_s)
    except TargetRefused as refused:
        if "does not resolve" not in str(refused):
            raise _url_problem(str(refused)) from None
    except webhook_client.ResolveTimeout:
        pass  # a slow name server holds no API request: every delivery resolves and checks the name again
    return url


def new_secret() -> str:
    """A 256-bit signing secret, as endpoints and per-message callbacks get one: `whsec_` and standard base64, the
    form Standard Webhooks libraries decode."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _out(item: Endpoint) -> EndpointOut:
    live = item.live_previous(int(clock.timestamp()))
    return EndpointOut(
        id=item.endpoint_id,
        url=item.url,
        events=sorted(item.events),
        created_at=clock.rfc3339_at(int(item.created_at)),
        secret_version=item.secret_version,
        previous_secrets_expire_at=clock.rfc3339_at(max(p.expires_at for p in live)) if live else None,
    )


def create_endpoint(
    principal: Principal, body: EndpointIn, meta: RequestMeta, *, ports: Ports = LIVE
) -> EndpointCreated:
    """POST /v1/webhook-endpoints: the signing secret is in this answer only."""
    url = check_url(body.url)
    endpoint_id = ids.new_id("whe")
    secret = new_secret()
    item = ports.store.new_endpoint(
        principal.account_id,
        endpoint_id,
        url=url,
        events={e.value for e in body.events},
        secret=secret,
        created_by=principal.principal,
        created_at=int(clock.timestamp()),
    )
    with caps.capped(caps.WEBHOOK_ENDPOINTS):
        item = ports.store.put_endpoint(item, cap=caps.LIMITS[caps.WEBHOOK_ENDPOINTS])
    ports.trail.record(
        account_id=principal.account_id,
        type="webhook_endpoint.created",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"endpoint_id": endpoint_id},
        data={"events": ",".join(sorted(item.events)), "host": urlsplit(url).hostname or ""},
    )
    out = _out(item)
    return EndpointCreated(id=out.id, url=out.url, events=out.events, secret=secret, created_at=out.created_at)


def list_endpoints(
    principal: Principal, limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None, *, ports: Ports = LIVE
) -> EndpointList:
    """GET /v1/webhook-endpoints: oldest first, paged; never the secrets."""
    items, more = caps.page(
        ports.store.list_endpoints(principal.account_id), lambda i: i.endpoint_id, limit=limit, cursor=cursor
    )
    return EndpointList(data=[_out(item) for item in items], next_cursor=more)


def _own(principal: Principal, endpoint_id: str, store: WebhookStore) -> Endpoint:
    item = store.get_endpoint(principal.account_id, endpoint_id)
    if item is None:
        raise NotFound("No such webhook endpoint.")
    return item


def delete_endpoint(principal: Principal, endpoint_id: str, meta: RequestMeta, *, ports: Ports = LIVE) -> None:
    """DELETE /v1/webhook-endpoints/{id}: deliveries still queued for it are dropped."""
    ports.store.delete_endpoint(_own(principal, endpoint_id, ports.store))
    ports.trail.record(
        account_id=principal.account_id,
        type="webhook_endpoint.deleted",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"endpoint_id": endpoint_id},
    )


def rotate_secret(
    principal: Principal, endpoint_id: str, body: RotateSecretIn, meta: RequestMeta, *, ports: Ports = LIVE
) -> SecretRotated:
    """POST /v1/webhook-endpoints/{id}/rotate-secret: a new secret (in this answer only) signs every delivery from
    now on; the replaced one keeps signing beside it for `grace_s` (default and at most 24 h), then stops.

    Rotating again within the overlap keeps each replaced secret until its own end (never later than the new
    grace); at most MAX_PREVIOUS_SECRETS at once (409 beyond). grace_s 0 ends every older secret now.
    """
    item = _own(principal, endpoint_id, ports.store)
    now = int(clock.timestamp())
    until = now + body.grace_s
    kept = [dataclasses.replace(p, expires_at=min(p.expires_at, until)) for p in item.live_previous(now)]
    if body.grace_s > 0:
        kept.insert(0, PreviousSecret(sealed=item.secret_sealed, version=item.secret_version, expires_at=until))
    kept = [p for p in kept if p.expires_at > now]
    if len(kept) > MAX_PREVIOUS_SECRETS:
        soonest = min(p.expires_at for p in kept)
        raise Conflict(
            f"This endpoint already has {MAX_PREVIOUS_SECRETS} replaced secrets still signing. Rotate again after "
            f"{clock.rfc3339_at(soonest)}, or with grace_s 0 to stop every older secret now.",
            code="rotation_overlap_full",
        )
    secret = new_secret()
    stored = ports.store.rotate_secret(item, secret=secret, previous=tuple(kept))
    if stored is None:
        raise Conflict("This endpoint changed meanwhile (another rotation?); try again.", code="endpoint_changed")
    ports.trail.record(
        account_id=principal.account_id,
        type="webhook_endpoint.secret_rotated",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        target={"endpoint_id": endpoint_id},
        data={"secret_version": stored.secret_version, "grace_s": body.grace_s, "still_signing": len(kept)},
    )
    return SecretRotated(
        id=stored.endpoint_id,
        secret=secret,
        secret_version=stored.secret_version,
        previous_secrets=[
            PreviousSecretOut(secret_version=p.version, expires_at=clock.rfc3339_at(p.expires_at)) for p in kept
        ],
    )


def _delivery_out(item: Delivery) -> DeliveryOut:
    return DeliveryOut(
        event_id=item.event_id,
        type=item.event_type,
        attempt=int(item.attempt),
        status_code=int(item.status_code) if item.status_code is not None else None,
        outcome=item.outcome,
        error=item.error,
        duration_ms=int(item.duration_ms),
        at=clock.rfc3339_at(int(item.at)),
        next_retry_at=clock.rfc3339_at(int(item.next_retry_at)) if item.next_retry_at is not None else None,
    )


def list_deliveries(
    principal: Principal, endpoint_id: str, limit: int = 25, cursor: str | None = None, *, ports: Ports = LIVE
) -> DeliveryList:
    """GET /v1/webhook-endpoints/{id}/deliveries: every attempt, newest first (kept 30 days)."""
    _own(principal, endpoint_id, ports.store)
    paging.check_limit(limit)
    try:
        items, more = ports.store.list_deliveries(principal.account_id, endpoint_id, limit=limit, cursor=cursor)
    except InvalidCursor:
        raise paging.bad_cursor() from None
    return DeliveryList(data=[_delivery_out(i) for i in items], next_cursor=more)


# --- Delivery -------------------------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """This attempt did not deliver: the job stays on the queue (hidden until its next attempt, or the DLQ)."""


def _headers(job: DeliveryJob, signing: Sequence[str], now: int, body: bytes) -> dict[str, str]:
    """Both signature schemes, one signature per signing secret (the current one first)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: job.event_id,
        SIGNATURE_HEADER: sign_all(signing, now, body),
        STANDARD_ID_HEADER: job.event_id,
        STANDARD_TIMESTAMP_HEADER: str(now),
        STANDARD_SIGNATURE_HEADER: standard_signature(signing, job.event_id, now, body),
    }


def _log(
    job: DeliveryJob,
    attempt: int,
    answer: Answer,
    *,
    outcome: str,
    at: int,
    next_retry_at: int | None,
    ports: Ports = LIVE,
) -> None:
    ports.store.put_delivery(
        job.account_id,
        Delivery(
            endpoint_id=job.target_id,
            event_id=job.event_id,
            event_type=job.event_type,
            attempt=attempt,
            status_code=answer.status,
            outcome=outcome,
            error=answer.error,
            duration_ms=answer.duration_ms,
            at=at,
            next_retry_at=next_retry_at,
            expires_at=at + DELIVERY_LOG_DAYS * 86400,
        ),
    )


def _target(job: DeliveryJob, store: WebhookStore, now: int) -> tuple[str, list[str]] | None:
    """Where to post the job and with which secrets (the current one, then those a rotation replaced whose overlap
    lasts at `now`); None when its endpoint or message no longer exists."""
    if job.message_id is not None:
        found = messages_dal.callback_target(job.account_id, job.message_id)
        return (found[0], [found[1]]) if found is not None else None
    endpoint = store.get_endpoint(job.account_id, job.endpoint_id or "")
    if endpoint is None:
        return None
    previous = [store.previous_secret(endpoint, p) for p in endpoint.live_previous(now)]
    return endpoint.url, [store.endpoint_secret(endpoint), *previous]


@dataclass
class Queued:
    """One received job of a batch: its receive count is its attempt number."""

    job: DeliveryJob
    attempt: int
    receipt_handle: str


@dataclass
class _Ready:
    """A job that may be posted now: where, what, and the circuit it counts against."""

    index: int
    url: str
    body: bytes
    headers: dict[str, str]
    circuit: str
    answer: Answer | None = None
    outcome: str | None = None  # delivered | failed | refused | deferred, once decided

    def defer(self, why: str) -> _Ready:
        """Not attempted in this batch: hidden until its next attempt, as a failure is."""
        self.answer, self.outcome = Answer(status=None, error=why, duration_ms=0), "deferred"
        return self


def circuit_key(job: DeliveryJob, url: str | None) -> str | None:
    """The breaker a job counts against: its endpoint's, or for a message's callback_url its account's origin
    (scheme, host, port; hashed, so no hostname sits in the Limits table): many messages to one slow host share it.
    None for a callback job while its URL is unknown.

    Always per account: another tenant's failures at the same host never demote this tenant's deliveries.
    """
    if job.endpoint_id is not None:
        return f"webhook:{job.account_id}:{job.endpoint_id}"
    if url is None:
        return None
    parts = urlsplit(url)
    try:
        origin = f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        origin = url
    return f"webhook:{job.account_id}:callback:{hashlib.sha256(origin.encode()).hexdigest()[:20]}"


def _keys(job: DeliveryJob) -> dict[str, str | None]:
    return {
        "account_id": job.account_id,
        "endpoint_id": job.endpoint_id,
        "message_id": job.message_id,
        "event_id": job.event_id,
    }


def prepare(
    job: DeliveryJob, *, attempt: int, now: int, ports: Ports = LIVE
) -> tuple[str, bytes, dict[str, str]] | None:
    """Whether and what to post for one job: (url, signed body, headers), or None to drop it.

    Every decision about one job before the network is made here (the endpoint or message is gone, the account's
    key is shredded), so a rule that holds or drops a job has one place to go.
    """
    try:
        target = _target(job, ports.store, now)
        body = open_event(job, ports=ports).encode() if target is not None else b""
    except envelope.KeyShredded:
        logger.info("account key shredded: delivery dropped", extra={**_keys(job), "attempt": attempt})
        return None
    if target is None:
        logger.info("webhook target deleted: delivery dropped", extra={**_keys(job), "attempt": attempt})
        return None
    url, signing = target
    return url, body, _headers(job, signing, now, body)


def _post_in_turn(group: list[_Ready], *, started: float, timeout_s: float, local: bool) -> None:
    """Post one circuit's jobs one after another; after a timeout, or once a delivery's deadline has passed since
    the batch began, the rest are deferred: one circuit holds its batch for at most two deadlines. (A fast failure,
    a 500 or a refused connection, costs nobody anything: the next job is still tried.)"""
    slow = False
    for ready in group:
        if slow or time.monotonic() - started >= timeout_s:
            ready.defer("deferred: endpoint slow")
            continue
        try:
            ready.answer = webhook_client.post(ready.url, ready.body, ready.headers, local=local, timeout_s=timeout_s)
            ready.outcome = "delivered" if ready.answer.delivered else "failed"
        except TargetRefused as refused:
            ready.answer, ready.outcome = Answer(status=None, error=f"refused: {refused}", duration_ms=0), "refused"
        slow = ready.answer.error == "timeout"


def _post_all(groups: dict[str, list[_Ready]], *, timeout_s: float, local: bool) -> None:
    """Every origin in its own thread: another tenant's slow endpoint never delays this one's delivery."""
    started = time.monotonic()
    if not groups:
        return
    if len(groups) == 1:
        _post_in_turn(next(iter(groups.values())), started=started, timeout_s=timeout_s, local=local)
        return
    with ThreadPoolExecutor(max_workers=min(len(groups), MAX_PARALLEL), thread_name_prefix="webhook") as pool:
        futures = [
            pool.submit(_post_in_turn, group, started=started, timeout_s=timeout_s, local=local)
            for group in groups.values()
        ]
        for future in futures:
            future.result()


def finish(item: Queued, answer: Answer, outcome: str, now: int, *, ports: Ports = LIVE) -> str:
    """Log the attempt; a job not delivered is hidden until its next attempt (the last one goes to the DLQ)."""
    job, attempt = item.job, item.attempt
    next_retry_at = None
    if outcome != "delivered" and attempt < MAX_ATTEMPTS:
        delay = backoff_s(attempt)
        ports.queue.change_visibility(queues.CALLBACKS, item.receipt_handle, delay)
        next_retry_at = now + delay
    _log(job, attempt, answer, outcome=outcome, at=now, next_retry_at=next_retry_at, ports=ports)
    metrics.add_metric(name=f"Webhooks{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "webhook attempt",
        extra={
            **_keys(job),
            "attempt": attempt,
            "outcome": outcome,
            "status_code": answer.status,
            "error": answer.error,
            "duration_ms": answer.duration_ms,
        },
    )
    return outcome


def _triage(index: int, item: Queued, *, now: int, closed: Callable[[str], bool]) -> _Ready | str:
    """What becomes of one job before the network: held or dropped (an outcome), "error" when that cannot be
    decided now (the record fails alone and comes back after its visibility timeout), or a job to post (deferred
    already when its circuit is open)."""
    try:
        # Closure and suspension hold every webhook of the account (logic.standing); a restore queues them again.
        held = standing.hold_webhook(item.job)
        if held is not None:
            return held
        known = circuit_key(item.job, None)
        if known is not None and not closed(known):
            return _Ready(index, "", b"", {}, known).defer("deferred: circuit open")
        prepared = prepare(item.job, attempt=item.attempt, now=now)
    except Exception:
        logger.exception("webhook job could not be prepared", extra=_keys(item.job))
        return "error"
    if prepared is None:
        return "dropped"
    url, body, headers = prepared
    each = _Ready(index, url, body, headers, circuit_key(item.job, url) or "")
    return each if closed(each.circuit) else each.defer("deferred: circuit open")


def deliver_batch(items: list[Queued]) -> list[str]:
    """Deliver a batch of jobs, isolating tenants; the outcome of each, in order.

    `delivered`, `dropped` and `held` are done; anything else (`failed`, `refused`, `deferred`, `error`) stays queued,
    hidden until its next attempt. Jobs are grouped by circuit (an endpoint, or one account's callback origin): each
    group posts in its own thread, one job at a time, and stops at its first timeout (the rest are deferred, not
    attempted). A group whose circuit is open is deferred without any HTTP (an endpoint's job without even being
    opened); a timeout opens the circuit at once, other failures after FAILURES_TO_OPEN batches. One delivery lasts
    at most `webhook_timeout_s`, a batch at most twice that (plus bookkeeping).
    """
    config = settings.get()
    now = int(clock.timestamp())
    outcomes: list[str] = ["error"] * len(items)
    breaker = Breaker(failures_to_open=FAILURES_TO_OPEN, window_s=FAILURE_WINDOW_S, cooldown_s=COOLDOWN_S)
    allowed: dict[str, bool] = {}

    def closed(circuit: str) -> bool:  # one read per circuit and batch (and one probe claim when half-open)
        if circuit not in allowed:
            allowed[circuit] = breaker.allow(circuit)
        return allowed[circuit]

    ready: list[_Ready] = []
    for index, item in enumerate(items):
        triaged = _triage(index, item, now=now, closed=closed)
        if isinstance(triaged, str):
            outcomes[index] = triaged
        else:
            ready.append(triaged)
    groups: dict[str, list[_Ready]] = {}
    for each in ready:
        if each.outcome is None:
            groups.setdefault(each.circuit, []).append(each)
    _post_all(groups, timeout_s=config.webhook_timeout_s, local=config.rules.loopback_webhooks)
    for circuit, group in groups.items():
        attempted = [each for each in group if each.outcome != "deferred"]
        if any(each.answer is not None and each.answer.error == "timeout" for each in attempted):
            # A spent deadline is what costs others: no second one until the cool-down's probe.
            circuits.trip(circuit, until=clock.timestamp() + COOLDOWN_S)
        elif any(each.outcome != "delivered" for each in attempted):
            breaker.failure(circuit)
        elif attempted:
            breaker.success(circuit)
    for each in ready:
        try:
            assert each.answer is not None and each.outcome is not None  # noqa: S101 - each was posted or deferred
            outcomes[each.index] = finish(items[each.index], each.answer, each.outcome, now)
        except Exception:
            logger.exception("webhook attempt could not be recorded", extra=_keys(items[each.index].job))
    return outcomes


def deliver(job: DeliveryJob, *, attempt: int, receipt_handle: str) -> str:
    """Deliver one job as a batch of one; raises DeliveryFailed when it stays queued."""
    [outcome] = deliver_batch([Queued(job, attempt, receipt_handle)])
    if outcome not in DONE:
        raise DeliveryFailed(f"attempt {attempt}: {outcome}")
    return outcome


def message_callbacks(
    account_id: str, message_id: str, limit: int = paging.MAX_LIMIT, *, ports: Ports = LIVE
) -> list[DeliveryOut]:
    """The newest attempts to deliver a message's status events to its callback_url (kept 30 days)."""
    items, _ = ports.store.list_deliveries(account_id, message_id, limit=limit)
    return [_delivery_out(i) for i in items]

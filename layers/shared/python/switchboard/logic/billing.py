"""Payment-provider events (R70): Stripe-style signature first, card data refused, subscription plans applied."""

from __future__ import annotations

import hmac
import json
import re
from hashlib import sha256

from pydantic import ValidationError

from switchboard import clock
from switchboard.cards import contains_card_number, contains_card_number_in
from switchboard.crypto import secret_store
from switchboard.dal import billing as billing_dal
from switchboard.logic import audit
from switchboard.models.billing import BillingAnswer, BillingEvent, Subscription
from switchboard.models.errors import BadRequest, Conflict, Unauthorized, ValidationFailed
from switchboard.models.plans import PLANS
from switchboard.models.request import RequestMeta
from switchboard.observability import logger

SECRET_ENV = "BILLING_CREDENTIALS_SECRET"  # noqa: S105 - the env var naming the secret
TOLERANCE_S = 300
SUBSCRIPTION_EVENTS = frozenset(
    {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"}
)
# A subscription in one of these states no longer pays for anything: the account is back on the free plan.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})
FREE = "free"
_ACCOUNT_ID = re.compile(r"^acct_[0-9a-z]{26}$")


def sign(secret: str, timestamp: int, body: str) -> str:
    """The `Stripe-Signature` header value for `body` at `timestamp` (tests and the provider's side)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = -1, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def verify_signature(body: str, header: str | None) -> None:
    """Unauthorized unless one `v1` is HMAC-SHA256(secret, "<t>.<body>") and `t` is within 300 s of now."""
    timestamp, signatures = _parse_signature(header or "")
    if timestamp < 0 or not signatures:
        raise Unauthorized("Missing or malformed Stripe-Signature header.", code="invalid_signature")
    if abs(clock.timestamp() - timestamp) > TOLERANCE_S:
        raise Unauthorized("The signature's timestamp is outside the 300-second tolerance.", code="invalid_signature")
    secret = str(secret_store.get_json(SECRET_ENV)["webhook_secret"])
    expected = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), sha256).hexdigest()
    # Every candidate is compared in constant time (the provider sends several while it rolls its secret).
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in signatures]
    if not any(matches):
        raise Unauthorized("The signature does not match this body.", code="invalid_signature")


def _plan(event: BillingEvent, subscription: Subscription) -> str:
    if event.type == "customer.subscription.deleted" or subscription.status in ENDED_STATUSES:
        return FREE
    items = subscription.items.data
    key = items[0].price.lookup_key if items else None
    if key not in PLANS:
        raise ValidationFailed(
            f"The subscription's price lookup_key must name a plan ({', '.join(sorted(PLANS))}).",
            code="unknown_plan",
            errors=[{"pointer": "/data/object/items/data/0/price/lookup_key", "message": "unknown plan"}],
        )
    return str(key)


def _decoded_holds_card(body: str) -> bool:
    """The card screen over the body as JSON decodes it too (escapes resolved, numbers as written)."""
    try:
        return contains_card_number_in(json.loads(body))
    except ValueError:
        return False  # not JSON: the raw screen above is all there is, and parsing refuses it below


def receive(body: str, signature: str | None, meta: RequestMeta) -> BillingAnswer:
    """POST /v1/billing/events: verified, screened for card data, then applied once (duplicates are no-ops)."""
    verify_signature(body, signature)
    if contains_card_number(body) or _decoded_holds_card(body):
        # Nothing from this payload is stored or logged: it may hold a card number.
        raise ValidationFailed(
            "The payload contains what looks like a payment card number; it was refused and nothing was stored.",
            code="card_data_refused",
            errors=[{"pointer": "", "message": "card-like number"}],
        )
    try:
        event = BillingEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        raise BadRequest("The body is not a payment provider event.", code="invalid_event") from error
    if event.type not in SUBSCRIPTION_EVENTS:
        logger.info("billing event ignored", extra={"event_type": event.type})
        return BillingAnswer(status="ignored")
    try:
        subscription = Subscription.model_validate(event.data.object)
    except ValidationError as error:
        raise BadRequest("The event's subscription object is malformed.", code="invalid_event") from error
    account_id = str(subscription.metadata.get("account_id") or "")
    if not _ACCOUNT_ID.match(account_id):
        logger.warning("billing event without our account id", extra={"event_type": event.type})
        return BillingAnswer(status="ignored")
    plan = _plan(event, subscription)
    if billing_dal.seen(account_id, event.id):
        return BillingAnswer(status="duplicate")
    previous = billing_dal.get(account_id)
    now = int(clock.timestamp())
    billing = billing_dal.new_billing(
        account_id,
        customer_id=subscription.customer,
        subscription_id=subscription.id,
        plan=plan,
        event_created=event.created,
        updated_at=now,
    )
    try:
        billing_dal.apply(billing, event_id=event.id, event_type=event.type, now=now)
    except billing_dal.Outcome as outcome:
        if outcome.reason == "duplicate":
            return BillingAnswer(status="duplicate")
        if outcome.reason == "conflict":
            raise Conflict("Another change to this account is in progress; retry.", code="billing_conflict") from None
        if outcome.reason == "stale":
            billing_dal.remember(account_id, event_id=event.id, event_type=event.type, now=now)
        logger.info("billing event ignored", extra={"event_type": event.type, "reason": outcome.reason})
        return BillingAnswer(status="ignored")
    audit.record(
        account_id=account_id,
        type="account.plan_changed",
        outcome="success",
        actor="system",
        meta=meta,
        target={"subscription_id": subscription.id},
        data={"from": previous.plan if previous else "", "to": plan, "provider_event": event.id},
    )
    return BillingAnswer(status="applied")

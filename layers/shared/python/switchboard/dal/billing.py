"""Billing state in the Accounts table: `ACCT#<id>`/`BILLING` (provider ids, plan) and `BILLEVT#<event id>`."""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import clients
from switchboard.dal.accounts import ACCOUNT_SK, AccountItem
from switchboard.dal.base import BaseItem
from switchboard.dal.keys import account_pk

BILLING_SK = "BILLING"
EVENT_PREFIX = "BILLEVT#"
DEDUPE_TTL_S = 30 * 86400  # the provider retries for days; a month covers every redelivery


class BillingItem(BaseItem):
    """The account's subscription as the provider last told us: ids and plan only, never card data (R70)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    subscription_id = UnicodeAttribute()
    plan = UnicodeAttribute()
    event_created = NumberAttribute()  # the provider's event time: an older event never overwrites a newer one
    updated_at = NumberAttribute()


class BillingEventItem(BaseItem):
    """A provider event already handled (redeliveries are no-ops)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Accounts").env

    class Meta:
        table_name = ""

    event_type = UnicodeAttribute()
    received_at = NumberAttribute()
    expires_at = NumberAttribute()


class Outcome(Exception):
    """The change was not applied: `reason` is duplicate, stale, no_account or conflict."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _event(account_id: str, event_id: str, event_type: str, now: int) -> BillingEventItem:
    return BillingEventItem(
        account_pk(account_id),
        f"{EVENT_PREFIX}{event_id}",
        event_type=event_type,
        received_at=now,
        expires_at=now + DEDUPE_TTL_S,
    )


def new_billing(account_id: str, **attributes: Any) -> BillingItem:
    """The account's billing state (not stored yet) under its key."""
    return BillingItem(account_pk(account_id), BILLING_SK, account_id=account_id, **attributes)


def seen(account_id: str, event_id: str) -> bool:
    """True when this event was handled before."""
    try:
        BillingEventItem.get(account_pk(account_id), f"{EVENT_PREFIX}{event_id}", consistent_read=True)
    except DoesNotExist:
        return False
    return True


def get(account_id: str) -> BillingItem | None:
    """The account's billing record, or None."""
    try:
        return BillingItem.get(account_pk(account_id), BILLING_SK, consistent_read=True)
    except DoesNotExist:
        return None


def apply(billing: BillingItem, *, event_id: str, event_type: str, now: int) -> None:
    """Record the event, the provider ids and the plan, and set the account's plan, all at once (or Outcome)."""
    account_id = billing.account_id
    account = AccountItem(account_pk(account_id), ACCOUNT_SK)
    labels = ("duplicate", "stale", "no_account")
    try:
        with TransactWrite(connection=BillingItem._get_connection().connection) as transaction:
            transaction.save(
                _event(account_id, event_id, event_type, now), condition=BillingEventItem.pk.does_not_exist()
            )
            transaction.save(
                billing,
                condition=BillingItem.pk.does_not_exist() | (BillingItem.event_created <= billing.event_created),
            )
            transaction.update(account, actions=[AccountItem.plan.set(billing.plan)], condition=AccountItem.pk.exists())
    except TransactWriteError as error:
        if error.cause_response_code != "TransactionCanceledException":
            raise
        codes = [reason.code if reason is not None else None for reason in error.cancellation_reasons]
        failed = [label for label, code in zip(labels, codes, strict=False) if code == "ConditionalCheckFailed"]
        raise Outcome(failed[0] if failed else "conflict") from error


def remember(account_id: str, *, event_id: str, event_type: str, now: int) -> None:
    """Record an event that changed nothing (stale), so its redelivery is a plain duplicate."""
    try:
        _event(account_id, event_id, event_type, now).save(condition=BillingEventItem.pk.does_not_exist())
    except PutError as error:
        if not clients.conditional_failed(error):
            raise

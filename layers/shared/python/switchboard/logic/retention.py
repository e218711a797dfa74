"""PATCH /v1/account: an owner or admin sets the account's message retention (R60; the purge job applies it) and
whether its voice calls are recorded by default (docs/recordings.md)."""

from __future__ import annotations

from switchboard.auth import Principal
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import retention as retention_dal
from switchboard.logic import account_info, audit
from switchboard.models.account import RETENTION_DAYS_DEFAULT, AccountOut, AccountSettingsIn
from switchboard.models.errors import NotFound, ValidationFailed
from switchboard.models.request import RequestMeta


def update(principal: Principal, body: AccountSettingsIn, meta: RequestMeta) -> AccountOut:
    """Store the settings given, audit the change (old and new value), answer the account as GET shows it."""
    if body.message_retention_days is None and body.record_calls is None:
        raise ValidationFailed.at("/message_retention_days", "Give at least one setting.")
    account = accounts_dal.get_account(principal.account_id)
    if account is None:
        raise NotFound("No such account.")
    data: dict[str, str | int | bool] = {}
    if body.message_retention_days is not None:
        if not retention_dal.set_days(principal.account_id, body.message_retention_days):
            raise NotFound("No such account.")
        data["message_retention_days"] = body.message_retention_days
        data["previous_message_retention_days"] = account.message_retention_days or RETENTION_DAYS_DEFAULT
    if body.record_calls is not None:
        if not retention_dal.set_record_calls(principal.account_id, body.record_calls):
            raise NotFound("No such account.")
        data["record_calls"] = body.record_calls
        data["previous_record_calls"] = bool(account.record_calls)
    audit.record(
        account_id=principal.account_id,
        type="account.settings_changed",
        outcome="success",
        actor=principal.principal,
        meta=meta,
        data=data,
    )
    return account_info.get_account(principal)

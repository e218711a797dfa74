"""GET /v1/account and the audit trail's read side (R54, R55): what every role, or owners and admins, may read."""

from __future__ import annotations

from switchboard import clock
from switchboard.auth import Principal
from switchboard.dal import accounts as accounts_dal
from switchboard.logic import audit
from switchboard.models.account import RETENTION_DAYS_DEFAULT, AccountOut, SenderOut
from switchboard.models.audit import AuditPage, ChainVerification
from switchboard.models.errors import NotFound


def get_account(principal: Principal) -> AccountOut:
    """GET /v1/account: every role, session or key, reads its own account (the id comes from the credential)."""
    account = accounts_dal.get_account(principal.account_id)
    if account is None:
        raise NotFound("No such account.")
    return AccountOut(
        id=account.account_id,
        name=account.name,
        plan=account.plan,
        status=account.status,
        created_at=clock.rfc3339_at(int(account.created_at)),
        purge_after=clock.rfc3339_at(int(account.purge_after)) if account.purge_after is not None else None,
        senders=[SenderOut(channel=s.channel, carrier=s.carrier, number=s.number) for s in account.senders or []],
        message_retention_days=account.message_retention_days or RETENTION_DAYS_DEFAULT,
        record_calls=bool(account.record_calls),
    )


def audit_events(principal: Principal, *, limit: int, cursor: str | None) -> AuditPage:
    """GET /v1/audit-events: owners and admins, newest first, API.md pagination."""
    return audit.list_events(principal.account_id, limit=limit, cursor=cursor)


def verify_audit(principal: Principal) -> ChainVerification:
    """GET /v1/audit-events/verification: recompute the account's hash chain."""
    return audit.verify(principal.account_id)

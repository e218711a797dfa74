"""The operator API's account reads (R34): metadata without personal data, each read audited in that account."""

from __future__ import annotations

import re

from switchboard import clock
from switchboard.dal import account_counts
from switchboard.dal import accounts as accounts_dal
from switchboard.logic import audit
from switchboard.models.errors import NotFound
from switchboard.models.operators import AccountMetadataOut, OperatorOut
from switchboard.models.request import RequestMeta
from switchboard.operators import TABLE, Operator, OperatorRole

# Our ids: a prefix, `_`, 26 Crockford base32 characters (switchboard.ids); anything else names no account.
_ACCOUNT_ID = re.compile(r"acct_[0-9a-z]{26}")


def whoami(operator: Operator) -> OperatorOut:
    """GET /ops/v1/whoami: the operator IAM authenticated, and their role's permissions."""
    permissions = sorted(p.value for p in TABLE[OperatorRole(operator.role)])
    return OperatorOut(id=operator.id, role=operator.role, mfa=operator.mfa, permissions=permissions)


def account_metadata(operator: Operator, account_id: str, meta: RequestMeta) -> AccountMetadataOut:
    """GET /ops/v1/accounts/{account_id}: status, plan, dates and counts; the owners see the read in their trail."""
    account = accounts_dal.get_account(account_id) if _ACCOUNT_ID.fullmatch(account_id) else None
    if account is None:
        raise NotFound("No such account.")
    counts = account_counts.count(account.account_id, int(clock.timestamp()))
    audit.record(
        account_id=account.account_id,
        type="operator.account.read",
        outcome="success",
        actor=operator.actor,
        meta=meta,
        target={"account_id": account.account_id},
        data={"operator_role": operator.role, "fields": "metadata"},
    )
    return AccountMetadataOut(
        id=account.account_id,
        status=account.status,
        plan=account.plan,
        created_at=clock.rfc3339_at(int(account.created_at)),
        purge_after=clock.rfc3339_at(int(account.purge_after)) if account.purge_after is not None else None,
        users=counts.users,
        api_keys=counts.api_keys,
        sessions=counts.sessions,
        senders=len(account.senders),
    )

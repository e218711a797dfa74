"""Request and response contracts of account deletion, restore and export."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from switchboard.models.account import AccountOut
from switchboard.models.audit import AuditEvent
from switchboard.models.identity import Email, Password, TotpCode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeleteAccountIn(_In):
    """DELETE /v1/account: the owner's password (and second factor when enrolled), as for re-authentication."""

    password: Password
    totp_code: TotpCode | None = None
    recovery_code: TotpCode | None = None


class DeletionOut(BaseModel):
    """202 of DELETE /v1/account."""

    status: Literal["pending_deletion"]
    purge_after: str


class RestoreIn(_In):
    """POST /v1/account/restore (public: logins stop while an account is pending deletion)."""

    email: Email
    password: Password
    totp_code: TotpCode | None = None
    recovery_code: TotpCode | None = None


class RestoreOut(BaseModel):
    """200 of POST /v1/account/restore."""

    status: Literal["active"]


class AccountExport(BaseModel):
    """200 of GET /v1/account/export: every record of the account, sealed fields opened (R57)."""

    format: Literal["switchboard.account-export.v1"]
    exported_at: str
    account: AccountOut
    records: dict[str, list[dict[str, Any]]]  # table name -> its items, as stored
    audit_events: list[AuditEvent]
    unreadable_fields: int

"""Request and response contracts of account deletion, restore and export."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

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

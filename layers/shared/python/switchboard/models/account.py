"""Request and response contracts of GET /v1/account, members and invitations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.models.identity import Email, NewPassword, Token
from switchboard.models.permissions import Role


class SenderOut(BaseModel):
    """One of the account's own sender numbers."""

    channel: str
    carrier: str
    number: str


class AccountOut(BaseModel):
    """GET /v1/account (`purge_after` only while the account is pending deletion)."""

    id: str
    name: str
    plan: str
    status: str
    created_at: str
    purge_after: str | None = None
    senders: list[SenderOut]
    message_retention_days: int = Field(
        description="R60: messages and inbound messages older than this are deleted by the hourly purge"
    )
    record_calls: bool = Field(
        default=False, description="Voice calls are recorded unless a message says `record: false` (a notice is read)"
    )


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# R60: the platform keeps messages 395 days (13 months) at most; an account may only shorten that.
RETENTION_DAYS_DEFAULT = 395
RETENTION_DAYS_MIN = 1


class AccountSettingsIn(_In):
    """PATCH /v1/account: the settings an owner or admin may change (every field optional, at least one)."""

    message_retention_days: int | None = Field(
        default=None, ge=RETENTION_DAYS_MIN, le=RETENTION_DAYS_DEFAULT, strict=True
    )
    record_calls: bool | None = Field(default=None, strict=True)


class InviteIn(_In):
    """POST /v1/members."""

    email: Email
    role: Role


class RoleChangeIn(_In):
    """PATCH /v1/members/{user_id}: the role is the only writable field (R33)."""

    role: Role


class AcceptIn(_In):
    """POST /v1/invitations/accept: the e-mailed token and the invitee's new password."""

    token: Token
    password: NewPassword


class InvitationOut(BaseModel):
    """201 of POST /v1/members: the invitation is pending until the invitee accepts it."""

    invitation_id: str
    email: str
    role: str
    status: Literal["invited"]
    created_at: str
    expires_at: str


class MemberOut(BaseModel):
    """One row of GET /v1/members: a member (`user_id`) or a pending invitation (`invitation_id`)."""

    user_id: str | None = None
    invitation_id: str | None = None
    email: str
    role: str
    status: Literal["active", "invited"]
    mfa_enabled: bool
    created_at: str
    expires_at: str | None = None  # invitations only


class MemberList(BaseModel):
    """GET /v1/members: members oldest first, then pending invitations."""

    data: list[MemberOut]
    next_cursor: str | None = None


class JoinedOut(BaseModel):
    """201 of POST /v1/invitations/accept: the new member, who now logs in with e-mail and password."""

    user_id: str
    account_id: str
    role: str

"""Request and response contracts of break-glass access (R34): requests, their decisions and the grants."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_GRANT_HOURS = 4
AccessStatus = Literal["pending", "approved", "denied", "revoked", "expired"]
# One printable line each: they land in audit events and e-mails to the account's owners.
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Ticket = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._#:/-]+$")
]
AccountId = Annotated[str, StringConstraints(min_length=6, max_length=64, pattern=r"^acct_[0-9a-z]+$")]


class AccessRequestIn(BaseModel):
    """POST /ops/v1/access-requests: one account, why (the customer reads it), the ticket, how long (<= 4 h)."""

    model_config = ConfigDict(extra="forbid")

    account_id: AccountId
    reason: Reason
    ticket: Ticket
    hours: int = Field(default=1, ge=1, le=MAX_GRANT_HOURS)


class AccessRequestOut(BaseModel):
    """A request and, once approved, its grant (times RFC 3339)."""

    id: str
    account_id: str
    status: AccessStatus
    reason: str
    ticket: str
    hours: int
    requested_by: str
    requested_at: str
    pending_until: str  # an approval after this is refused
    approved_by: str | None = None
    approved_at: str | None = None
    expires_at: str | None = None  # the grant's end (approved_at + hours)
    ended_by: str | None = None  # who denied or revoked it
    ended_at: str | None = None


class AccessRequestPage(BaseModel):
    """Requests, newest first."""

    data: list[AccessRequestOut]
    next_cursor: str | None = None

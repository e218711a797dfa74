"""The audit trail's event: who did what to which object, from where, in which request, and whether it worked."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# "denied": the action was refused (R54: authorization failures, refused credentials, throttled logins).
Outcome = Literal["success", "failure", "denied"]
Scalar = str | int | bool


class AuditEvent(BaseModel):
    """One security-relevant action (API.md `GET /v1/audit-events` item). Never carries a secret or personal data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # evt_…
    account_id: str
    type: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")  # e.g. session.created, login.failed, api_key.revoked
    outcome: Outcome
    actor: str  # usr_…, key_…, op_… or "system"
    at: str  # RFC 3339 UTC
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    target: dict[str, str] = Field(default_factory=dict)  # ids of the objects acted on, e.g. {"key_id": "key_…"}
    data: dict[str, Scalar] = Field(default_factory=dict)  # non-secret facts, e.g. {"role": "admin", "factor": "totp"}


class AuditPage(BaseModel):
    """One page of `GET /v1/audit-events`, newest first."""

    data: list[AuditEvent]
    next_cursor: str | None = None


class ChainVerification(BaseModel):
    """`GET /v1/audit-events/verification`: whether the account's chain is intact, and where it first breaks."""

    valid: bool
    checked: int  # events examined (up to and including the first bad one)
    first_bad: str | None = None  # id of the first event that is altered, out of place, or follows a gap
    # Why it is invalid: gap, broken_link, altered, unkeyed, anchor_mismatch, truncated (the newest anchored
    # events are missing) or mac_invalid.
    reason: str | None = None
    anchored_seq: int | None = None  # the newest anchored head the chain was compared with (None: not anchored yet)

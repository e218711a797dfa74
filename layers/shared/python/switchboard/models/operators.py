"""The operator API's answers: explicit output models, metadata only (R33, R34: no personal data, no content)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OperatorOut(BaseModel):
    """GET /ops/v1/whoami: the calling operator and what their role allows."""

    model_config = ConfigDict(extra="forbid")

    id: str
    role: str
    mfa: bool
    permissions: list[str]


class AccountMetadataOut(BaseModel):
    """GET /ops/v1/accounts/{account_id}: an account as operators see it without a break-glass grant.

    No name (an account may be named after a person), no e-mail address, no sender number, no content: counts.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    status: str
    plan: str
    created_at: str
    purge_after: str | None = None
    users: int
    api_keys: int
    sessions: int
    senders: int

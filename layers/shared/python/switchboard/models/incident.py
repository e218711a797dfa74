"""Contracts of the operators' incident actions on an account (suspend, reinstate, sessions, keys, forced reset)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from switchboard import cards

# Shown to the account's owners (audit trail, e-mail): printable text on one line, never a card number.
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$"),
    BeforeValidator(cards.screen),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuspendIn(_In):
    """POST /ops/v1/accounts/{account_id}/suspend: why (the owners read it in their audit trail and e-mail)."""

    reason: Reason


class ActionIn(_In):
    """The other actions' optional body: why, recorded in the account's audit trail."""

    reason: Reason | None = None


class AccountStatusOut(BaseModel):
    """Suspend and reinstate: the account's status now, and whether this call changed it."""

    account_id: str
    status: str
    changed: bool
    sessions_ended: int = 0


class SessionsEndedOut(BaseModel):
    """End the sessions of an account (every user) or of one user."""

    account_id: str
    user_id: str | None = None
    users: int
    sessions_ended: int


class KeysRevokedOut(BaseModel):
    """Revoke every live API key of an account."""

    account_id: str
    keys_revoked: int
    key_ids: list[str]


class ForcedResetOut(BaseModel):
    """Force a user's password reset: their sessions end, their next login answers `password_reset_required`."""

    account_id: str
    user_id: str
    changed: bool  # False when a reset was already required (no second link is sent)
    sessions_ended: int
    link_sent: bool

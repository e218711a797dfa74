"""Request and response contracts of signup, verification, login, sessions, /me, TOTP and password reset."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from switchboard import cards
from switchboard.models.one_time import ONE_TIME_SECRET

# An address SES can send to: an RFC 5322 dot-atom local part (no quoting, comments or specials, which mail
# parsers read back differently) at an ASCII host name, within RFC 5321's length; the verification e-mail proves the
# rest. A looser check let addresses through that SES then refused, answering 500 after the account was written.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+$"
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)]
# The policy (15-256 code points, blocklist) runs in logic and names its reason; this bound only caps the work.
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
# A password being set: the document (and the gateway's model) states the policy's length; logic names the reason.
NewPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), Field(json_schema_extra={"minLength": 15, "maxLength": 256})
]
Token = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# Printable ASCII only: a code in Arabic-Indic or fullwidth digits is refused (422), never read as ASCII digits.
TotpCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\x20-\x7e]+$")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignupIn(_In):
    """POST /v1/signup."""

    email: Email
    password: NewPassword
    account_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), BeforeValidator(cards.screen)
    ]


class AcceptedOut(BaseModel):
    """202 answers that say nothing about whether the e-mail exists."""

    status: str


class TokenIn(_In):
    """POST /v1/email-verifications."""

    token: Token


class LoginIn(_In):
    """POST /v1/sessions."""

    email: Email
    password: Password
    totp_code: TotpCode | None = None
    recovery_code: TotpCode | None = None


class SessionOut(BaseModel):
    """201 of POST /v1/sessions: the token appears in this response only."""

    token: Annotated[str, ONE_TIME_SECRET]
    expires_at: str
    idle_timeout_s: int


class SessionInfo(BaseModel):
    """One of the caller's sessions (no token, no digest)."""

    id: str
    created_at: str
    last_seen_at: str
    ip: str
    user_agent: str
    current: bool


class SessionList(BaseModel):
    """GET /v1/sessions."""

    data: list[SessionInfo]
    next_cursor: str | None = None


class ReauthIn(_In):
    """POST /v1/sessions/current/reauth."""

    password: Password
    totp_code: TotpCode | None = None
    recovery_code: TotpCode | None = None


class ReauthOut(BaseModel):
    """200 of a re-authentication: the same token stays valid."""

    status: Literal["reauthenticated"]
    auth_at: str


class MeOut(BaseModel):
    """GET /v1/me."""

    user_id: str
    email: str
    account_id: str
    role: str
    mfa_enabled: bool


class PasswordChangeIn(_In):
    """POST /v1/me/password."""

    current_password: Password
    new_password: NewPassword


class TotpEnrolOut(BaseModel):
    """201 of POST /v1/me/mfa/totp: the seed is shown here only."""

    secret: Annotated[str, ONE_TIME_SECRET]
    otpauth_uri: Annotated[str, ONE_TIME_SECRET]  # holds the seed too


class TotpCodeIn(_In):
    """POST /v1/me/mfa/totp/activate."""

    code: TotpCode


class RecoveryCodesOut(BaseModel):
    """200 of activation: ten single-use recovery codes, shown once."""

    recovery_codes: Annotated[list[str], ONE_TIME_SECRET] = Field(min_length=10, max_length=10)


class TotpDisableIn(_In):
    """DELETE /v1/me/mfa/totp: the password and a current code (or a recovery code)."""

    password: Password
    code: TotpCode


class ResetRequestIn(_In):
    """POST /v1/password-resets."""

    email: Email


class ResetConfirmIn(_In):
    """POST /v1/password-resets/confirm."""

    token: Token
    new_password: NewPassword

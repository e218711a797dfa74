"""Who is calling: the principal the authorizer resolved, permission checks and the 5-minute re-auth rule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from switchboard import clock
from switchboard.models.errors import BadRequest, Forbidden, Unauthorized
from switchboard.models.permissions import Permission, allows

REAUTH_WINDOW_S = 300
CREDENTIALS_IN_URL = "credentials_in_url"
SERVICE_UNAVAILABLE = "service_unavailable"  # the authorizer could not check the credential (AWS busy)
# Query parameters that carry credentials by name, and values that look like one of our credentials.
_CREDENTIAL_PARAMS = frozenset({"api_key", "apikey", "access_token", "token", "key", "session", "authorization"})
_CREDENTIAL_VALUE = re.compile(r"^(sbs_|sb_live_|sb_test_)")
# The checks a request passed, in order: an idempotent replay runs them again for its caller (R24, R26, R31).
SESSION_CHECK = "session"
RECENT_AUTH_CHECK = "recent_auth"
_checks: ContextVar[list[str] | None] = ContextVar("switchboard_auth_checks", default=None)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as the authorizer put it into requestContext.authorizer (all strings there)."""

    account_id: str
    principal: str  # usr_… for a session, key_… for an API key
    role: str
    credential: str  # session | api_key
    session_id: str
    key_id: str
    plan: str
    mode: str
    auth_at: int  # epoch seconds of the last password authentication (sessions), 0 for keys
    refusal: str = ""

    @property
    def is_session(self) -> bool:
        """True for a session token (members, keys, MFA, password are managed from a session only)."""
        return self.credential == "session"

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Principal:
        """Read the authorizer context: the only source of the account id (never the body, query or headers)."""
        context = (event.get("requestContext") or {}).get("authorizer") or {}
        account_id = str(context.get("account_id") or "")
        principal = str(context.get("principal") or context.get("principalId") or "")
        refusal = str(context.get("refusal") or "")
        if refusal:
            raise BadRequest("Send credentials in the Authorization header, never in the URL.", code=refusal)
        if not account_id or not principal:
            raise Unauthorized("Authenticate with a session token or an API key.")
        auth_at = str(context.get("auth_at") or "")
        return cls(
            account_id=account_id,
            principal=principal,
            role=str(context.get("role") or ""),
            credential=str(context.get("credential") or ""),
            session_id=str(context.get("session_id") or ""),
            key_id=str(context.get("key_id") or ""),
            plan=str(context.get("plan") or ""),
            mode=str(context.get("mode") or ""),
            auth_at=int(auth_at) if auth_at.isdigit() else 0,
        )


def credentials_in_query(event: dict[str, Any]) -> bool:
    """True when the query string names or carries a credential (R27): such a request is refused with 400."""
    params: dict[str, Any] = dict(event.get("queryStringParameters") or {})
    for name, values in (event.get("multiValueQueryStringParameters") or {}).items():
        params.setdefault(name, values)
    for name, value in params.items():
        if name.lower() in _CREDENTIAL_PARAMS:
            return True
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and _CREDENTIAL_VALUE.match(item):
                return True
    return False


def refuse_credentials_in_url(event: dict[str, Any]) -> None:
    """Raise 400 credentials_in_url when the authorizer flagged it or the query string carries a credential.

    Public routes have no authorizer, so the query string is checked here too. `api.handle` calls it first, on
    every route, before the body is even looked at.
    """
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    if context.get("refusal") == CREDENTIALS_IN_URL or credentials_in_query(event):
        raise BadRequest("Send credentials in the Authorization header, never in the URL.", code=CREDENTIALS_IN_URL)


def _passed(check: str) -> None:
    checks = _checks.get()
    if checks is not None and check not in checks:
        checks.append(check)


@contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the checks (`require*`) this request's code passes: a permission's value, "session", "recent_auth"."""
    checks: list[str] = []
    token = _checks.set(checks)
    try:
        yield checks
    finally:
        _checks.reset(token)


def recheck(principal: Principal, checks: list[str]) -> None:
    """Run recorded checks again, in their order, for the caller now (raises what the route itself would)."""
    for check in checks:
        if check == SESSION_CHECK:
            require_session(principal)
        elif check == RECENT_AUTH_CHECK:
            require_recent_auth(principal)
        else:
            require(principal, Permission(check))


def require(principal: Principal, permission: Permission) -> None:
    """Raise Forbidden unless the principal's role holds `permission` (API.md's one table)."""
    if not allows(principal.role, permission):
        raise Forbidden(f"Your role ({principal.role}) does not allow this.", code="forbidden")
    _passed(permission.value)


def require_session(principal: Principal) -> None:
    """Members, API keys, MFA, password and account deletion are managed from a session, never with a key."""
    if not principal.is_session:
        raise Forbidden("This is managed from a logged-in session, not with an API key.", code="session_required")
    _passed(SESSION_CHECK)


def require_recent_auth(principal: Principal) -> None:
    """Sensitive actions need a login or re-authentication within the last 5 minutes (R24)."""
    require_session(principal)
    if clock.timestamp() - principal.auth_at > REAUTH_WINDOW_S:
        raise Unauthorized(
            "Re-authenticate at POST /v1/sessions/current/reauth, then retry within 5 minutes.",
            code="reauth_required",
        )
    _passed(RECENT_AUTH_CHECK)

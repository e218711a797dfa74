"""Who is calling: the principal the authorizer resolved, permission checks and the 5-minute re-auth rule."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from switchboard import clock
from switchboard.models.errors import BadRequest, Forbidden, Unauthorized
from switchboard.models.permissions import Permission, allows

REAUTH_WINDOW_S = 300
CREDENTIALS_IN_URL = "credentials_in_url"
SERVICE_UNAVAILABLE = "service_unavailable"  # the authorizer could not check the credential (AWS busy)
DUPLICATE_AUTHORIZATION = "duplicate_authorization"
SIGV4_SCHEME = "AWS4-HMAC-SHA256 "  # the operator API's IAM signatures (switchboard.operators)
# Refusals the authorizer hands every handler (it cannot answer 400 itself), with what the caller is told.
REFUSALS: dict[str, str] = {
    CREDENTIALS_IN_URL: "Send credentials in the Authorization header, never in the URL.",
    DUPLICATE_AUTHORIZATION: "Send exactly one Authorization header with exactly one credential.",
}
# Query parameters that carry credentials by name, and values that look like one of our credentials.
_CREDENTIAL_PARAMS = frozenset({"api_key", "apikey", "access_token", "token", "key", "session", "authorization"})
# One of our credentials anywhere in a value, unless glued to a preceding letter or digit: a base64url cursor
# could hold the prefix by chance only after such a character, and a credential is never written that way.
_CREDENTIAL_VALUE = re.compile(r"(?<![a-z0-9])(sbs_|sb_live_|sb_test_)")
_DECODE_ROUNDS = 4  # percent-encoding nested deeper than this is refused as a credential would be
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
            raise BadRequest(REFUSALS.get(refusal, "These credentials are refused."), code=refusal)
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


def _carries_credential(text: str) -> bool:
    """True when `text`, however encoded (percent-encoding, `+`, compatibility forms, case), holds a credential."""
    for _ in range(_DECODE_ROUNDS):
        normalized = unicodedata.normalize("NFKC", text).casefold()
        if _CREDENTIAL_VALUE.search(normalized):
            return True
        decoded = unquote_plus(text)
        if decoded == text:
            return False
        text = decoded
    return True  # still percent-encoded after every round: nothing legitimate is encoded that deep


def credentials_in_query(event: dict[str, Any]) -> bool:
    """True when the query string names or carries a credential (R27): such a request is refused with 400.

    Any parameter, any position in the value (`Bearer <token>`, a leading space, `x=<token>`), any encoding.
    """
    params: dict[str, list[Any]] = {}
    for name, value in (event.get("queryStringParameters") or {}).items():
        params.setdefault(str(name), []).append(value)
    for name, values in (event.get("multiValueQueryStringParameters") or {}).items():
        params.setdefault(str(name), []).extend(values if isinstance(values, list) else [values])
    for name, values in params.items():
        if name.strip().lower() in _CREDENTIAL_PARAMS or _carries_credential(name):
            return True
        if any(isinstance(item, str) and _carries_credential(item) for item in values):
            return True
    return False


def duplicate_authorization(event: dict[str, Any]) -> bool:
    """True when the request carries more than one Authorization header or more than one credential in it.

    API Gateway's `headers` keeps only the last of repeated headers: "last wins" would let a proxy and a client
    disagree on who is calling, so such a request is refused (400), never resolved.
    """
    values: list[str] = []
    for name, items in (event.get("multiValueHeaders") or {}).items():
        if str(name).lower() == "authorization":
            values.extend(str(v) for v in (items if isinstance(items, list) else [items]))
    if not values:
        values = [str(v) for k, v in (event.get("headers") or {}).items() if str(k).lower() == "authorization"]
    # Our credentials never hold a comma: a comma joins two header lines (RFC 9110 §5.3) or two credentials. A SigV4
    # signature (operator routes) separates its own parts with commas: it is one credential.
    return len(values) > 1 or any("," in value and not value.startswith(SIGV4_SCHEME) for value in values)


def refusal_of(event: dict[str, Any]) -> str:
    """The refusal code for this request's credentials, or "" (the authorizer's verdict, else the request's)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    refusal = str(context.get("refusal") or "")
    if refusal in REFUSALS:  # SERVICE_UNAVAILABLE is no verdict on the credentials: `api.handle` answers it (503)
        return refusal
    if credentials_in_query(event):
        return CREDENTIALS_IN_URL
    return DUPLICATE_AUTHORIZATION if duplicate_authorization(event) else ""


def refuse_credentials_in_url(event: dict[str, Any]) -> None:
    """Raise 400 when the authorizer flagged the credentials, the query string carries one, or there are two.

    Public routes have no authorizer, so the request is checked here too. `api.handle` calls it first, on every
    route, before the body is even looked at.
    """
    refusal = refusal_of(event)
    if refusal:
        raise BadRequest(REFUSALS.get(refusal, "These credentials are refused."), code=refusal)


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


def enforce(principal: Principal, *, session_only: bool, permission: Permission | None, reauth: bool) -> None:
    """A route's policy (its catalog declaration), in the order callers are told why: a key on a session route
    (403 session_required), then the role (403 forbidden), then a stale session (401 reauth_required)."""
    if session_only:
        require_session(principal)
    if permission is not None:
        require(principal, permission)
    if reauth:
        require_recent_auth(principal)


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

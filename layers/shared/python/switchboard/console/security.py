"""The console's browser rules: the session cookie, CSRF tokens bound to it, and same-origin form posts (R21, R25)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from switchboard.console.web import Request, cookie

SESSION_COOKIE = "__Host-sb_session"
# Before sign-in a form still needs a token: bound to this random cookie (login CSRF, R25).
PRESESSION_COOKIE = "__Host-sb_presession"
PRESESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"
_SEPARATOR = "~"
_TOKEN = re.compile(r"sbs_[A-Za-z0-9_-]{16,128}")
_PRESESSION = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True)
class Session:
    """The session the cookie carries: the API token, and its absolute expiry and idle timeout (to show them)."""

    token: str
    expires_at: int  # epoch seconds
    idle_timeout_s: int

    def cookie_value(self) -> str:
        """What the cookie holds: the token and the two figures the pages show (the API enforces them)."""
        return _SEPARATOR.join((self.token, str(self.expires_at), str(self.idle_timeout_s)))

    def set_cookie(self, now: float | None = None) -> str:
        """The Set-Cookie of this session: it lives no longer than the session's absolute lifetime."""
        remaining = self.expires_at - int(now if now is not None else time.time())
        return cookie(SESSION_COOKIE, self.cookie_value(), max_age=remaining)


def session_of(request: Request) -> Session | None:
    """The session the request's cookie names, if it is well-formed (the API decides whether it is alive)."""
    raw = request.cookies.get(SESSION_COOKIE, "")
    token, _, rest = raw.partition(_SEPARATOR)
    expires, _, idle = rest.partition(_SEPARATOR)
    if not _TOKEN.fullmatch(token):
        return None
    if not (expires.isdigit() and idle.isdigit()) or len(expires) > 12 or len(idle) > 8:
        return Session(token=token, expires_at=0, idle_timeout_s=0)
    return Session(token=token, expires_at=int(expires), idle_timeout_s=int(idle))


def presession_of(request: Request) -> str | None:
    """The pre-session cookie's random value, if well-formed."""
    value = request.cookies.get(PRESESSION_COOKIE, "")
    return value if _PRESESSION.fullmatch(value) else None


def new_presession() -> tuple[str, str]:
    """A fresh pre-session value and its Set-Cookie."""
    value = secrets.token_urlsafe(32)
    return value, cookie(PRESESSION_COOKIE, value, max_age=PRESESSION_MAX_AGE_S)


def csrf_token(key: str) -> str:
    """The form token for this key (the session token, or the pre-session value): an HMAC nobody can compute
    without the cookie, which no other site can read (HttpOnly, SameSite=Strict)."""
    digest = hmac.new(key.encode(), b"switchboard-console-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_valid(request: Request, key: str | None) -> bool:
    """The form carries the token for `key`."""
    sent = request.form.get(CSRF_FIELD, "")
    return bool(key) and hmac.compare_digest(sent.encode(), csrf_token(key or "").encode())


def same_origin(request: Request) -> bool:
    """A state-changing request came from our own pages (defence in depth beside the token; SameSite=Strict already
    keeps the cookie home). `Sec-Fetch-Site`, which no page can set, is the browser's own word and decides where it
    is sent: our pages say `Referrer-Policy: no-referrer`, so Chromium posts their forms with `Origin: null` beside
    `Sec-Fetch-Site: same-origin`. Without it (an older browser), `Origin`, if sent, must name this host."""
    site = request.headers.get("sec-fetch-site", "")
    if site:
        return site in {"same-origin", "none"}
    sent = request.headers.get("origin")
    if sent is None:
        return True
    return bool(sent) and urlsplit(sent).netloc.lower() == request.headers.get("host", "").lower()

"""Breached-password check (R2b): the Pwned Passwords k-anonymity range API, with a short timeout, failing open.

Only the first five hex digits of the password's SHA-1 leave the function (`GET <url>/<prefix>`, `Add-Padding:
true` so the answer's size says nothing either); the suffix is compared here. When the service cannot answer in
time the check is skipped (fail open) and `password_breach_check_unavailable` is logged: an outage of a third party
must not stop signups, and the local screening (common passwords, patterns, context words) still applies.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from switchboard import outbound
from switchboard.observability import logger

TIMEOUT_S = 1.5
MAX_BODY = 2_000_000  # a padded range answer is ~40 KB; anything far larger is not one


class Unavailable(Exception):
    """The range API did not answer usably (timeout, error status, malformed body)."""


def _range_url(base: str, prefix: str) -> str:
    parts = urlsplit(base)
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        raise Unavailable(f"not an http(s) URL: {base!r}")
    return f"{base.rstrip('/')}/{prefix}"


def breach_count(password: str, *, url: str, timeout_s: float = TIMEOUT_S) -> int:
    """How often `password` appears in the breach corpus (0: never); Unavailable when the service cannot say."""
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    parts = urlsplit(_range_url(url, prefix))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        # One total deadline: a slow or dripping service is skipped in time (urlopen's timeout bounds each read).
        reply = outbound.Client().request(
            "GET",
            (parts.scheme, host, port, host),
            parts.path,
            host_header=outbound.host_header(host, port, parts.scheme),
            headers={"Add-Padding": "true", "User-Agent": "switchboard-password-screening"},
            body=b"",
            timeout_s=timeout_s,
            max_body=MAX_BODY,
        )
    except outbound.Failed as failed:
        raise Unavailable("range answer too large" if failed.kind == "too_large" else str(failed)) from None
    if reply.status != 200:
        raise Unavailable(f"HTTP {reply.status}")
    body = reply.body
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError as error:
        raise Unavailable("range answer is not ASCII") from error
    for line in lines:
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            try:
                return int(count)  # padding entries carry 0
            except ValueError as error:
                raise Unavailable("malformed range answer") from error
    return 0


def is_breached(password: str, *, url: str) -> bool:
    """True when the corpus holds `password`; False when it does not or the service is unavailable (logged)."""
    if not url:
        return False  # switched off (the local stack and tests, unless they point it at a fake)
    try:
        return breach_count(password, url=url) > 0
    except Unavailable as error:
        logger.warning("password_breach_check_unavailable", extra={"reason": str(error)[:200]})
        return False

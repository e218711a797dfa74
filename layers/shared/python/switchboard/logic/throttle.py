"""Login throttling (R9, R10): 10 failures in 15 minutes per e-mail and per client IP lock logins for 15 minutes."""

from __future__ import annotations

from switchboard import clock
from switchboard.dal import throttle
from switchboard.models.errors import RateLimited

MAX_FAILURES = 10
WINDOW_S = 15 * 60
LOCK_S = 15 * 60


def email_key(email_index: str) -> str:
    """Keyed by the e-mail's blind index, whether or not a user has it (lockout reveals nothing)."""
    return f"LIMIT#LOGIN#EMAIL#{email_index}"


def ip_key(source_ip: str) -> str:
    """Keyed by the trusted client IP (RequestMeta.source_ip)."""
    return f"LIMIT#LOGIN#IP#{source_ip or 'unknown'}"


class TooManyAttempts(RateLimited):
    """429 too_many_attempts: the lock holds even for the right password."""

    code = "too_many_attempts"
    title = "Too many attempts"


def check(email_index: str, source_ip: str) -> None:
    """Raise TooManyAttempts (with Retry-After) while either the e-mail or the IP is locked."""
    now = int(clock.timestamp())
    for key in (email_key(email_index), ip_key(source_ip)):
        item = throttle.get(key)
        if item is not None and int(item.locked_until) > now:
            raise TooManyAttempts(
                "Too many failed attempts; try again later.", retry_after_s=int(item.locked_until) - now
            )


def record_failure(email_index: str, source_ip: str) -> bool:
    """Count one failure for the e-mail and the IP; True when this failure locked the e-mail (lockout notice)."""
    now = int(clock.timestamp())
    locked_email = False
    for key in (email_key(email_index), ip_key(source_ip)):
        if throttle.add_failure(key, now=now, window_s=WINDOW_S) >= MAX_FAILURES:
            newly = throttle.lock(key, until=now + LOCK_S)
            locked_email = locked_email or (newly and key == email_key(email_index))
    return locked_email


def record_success(email_index: str) -> None:
    """A successful login clears the e-mail's counter (R9); the IP keeps counting (R10: failures per IP)."""
    throttle.clear(email_key(email_index))

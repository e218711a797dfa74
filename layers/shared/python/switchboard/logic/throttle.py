"""Login throttling (R9, R10): at most 10 guesses in 15 minutes per e-mail and per client IP, then 15 minutes locked.

An attempt first reserves a slot on both counters (one conditional update each), and only then may a password or
code be checked: however many requests arrive at once, no more than 10 per window get to guess. A failed attempt
keeps its slots; a successful one (or one that never reached a guess) gives them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from switchboard import clock
from switchboard.crypto import blind_index
from switchboard.dal import throttle
from switchboard.models.errors import RateLimited

MAX_FAILURES = 10
WINDOW_S = 15 * 60
LOCK_S = 15 * 60
IN_FLIGHT_RETRY_S = 1  # every slot is held by an attempt still being checked: one of them ends within a second


def ip_key(source_ip: str) -> str:
    """Keyed by the trusted client IP (RequestMeta.source_ip), as a keyed digest: the table holds no address."""
    return throttle.ip_key(blind_index.keyed_digest("login_ip", source_ip or "unknown"))


class TooManyAttempts(RateLimited):
    """429 too_many_attempts: the lock holds even for the right password."""

    code = "too_many_attempts"
    title = "Too many attempts"


def _refused(refusal: throttle.Refusal, now: int) -> TooManyAttempts:
    wait = refusal.locked_until - now if refusal.locked_until > now else IN_FLIGHT_RETRY_S
    return TooManyAttempts("Too many failed attempts; try again later.", retry_after_s=wait)


class Attempt:
    """One login-like attempt holding a slot on the e-mail's and the IP's counters until it is settled."""

    def __init__(self, email_index: str, slots: list[throttle.Slot]) -> None:
        self.email_index = email_index
        self._slots = slots
        self.settled = False

    def failed(self) -> bool:
        """The guess was wrong: its slots stay taken; True when this failure locked the e-mail (lockout notice)."""
        if self.settled:
            return False
        self.settled = True
        now = int(clock.timestamp())
        locked_email = False
        for slot in self._slots:
            if slot.number >= MAX_FAILURES:
                newly = throttle.lock(slot.key, until=now + LOCK_S)
                locked_email = locked_email or (newly and slot.key == throttle.email_key(self.email_index))
        return locked_email

    def succeeded(self) -> None:
        """Every factor was right: the e-mail's counter starts over (R9); the IP's slot is given back (R10)."""
        if self.settled:
            return
        self.settled = True
        for slot in self._slots:
            if slot.key == throttle.email_key(self.email_index):
                throttle.clear(slot.key)
            else:
                throttle.release(slot)

    def release(self) -> None:
        """The attempt ended without a wrong guess (e.g. a refused but correct password): its slots are given back."""
        if self.settled:
            return
        self.settled = True
        for slot in self._slots:
            throttle.release(slot)


def admit(email_index: str, source_ip: str) -> Attempt:
    """Reserve a slot for the e-mail, then for the IP; TooManyAttempts (with Retry-After) when either is full."""
    now = int(clock.timestamp())
    slots: list[throttle.Slot] = []
    for key in (throttle.email_key(email_index), ip_key(source_ip)):
        taken = throttle.reserve(key, now=now, window_s=WINDOW_S, limit=MAX_FAILURES)
        if isinstance(taken, throttle.Refusal):
            for slot in slots:
                throttle.release(slot)
            raise _refused(taken, now)
        slots.append(taken)
    return Attempt(email_index, slots)


@contextmanager
def attempt(email_index: str, source_ip: str, *, on_refused: Callable[[], None] | None = None) -> Iterator[Attempt]:
    """An admitted attempt for the block; slots not settled by `failed`/`succeeded` are given back on the way out.

    `on_refused` runs when no slot is left (TooManyAttempts), before that is raised: the caller's audit hook.
    """
    try:
        current = admit(email_index, source_ip)
    except TooManyAttempts:
        if on_refused is not None:
            on_refused()
        raise
    try:
        yield current
    finally:
        current.release()


def record_failure(email_index: str, source_ip: str) -> bool:
    """Count one failure outside an admitted attempt (takes a slot and keeps it); True when it locked the e-mail."""
    now = int(clock.timestamp())
    locked_email = False
    for key in (throttle.email_key(email_index), ip_key(source_ip)):
        taken = throttle.reserve(key, now=now, window_s=WINDOW_S, limit=MAX_FAILURES)
        if isinstance(taken, throttle.Slot) and taken.number >= MAX_FAILURES:
            newly = throttle.lock(key, until=now + LOCK_S)
            locked_email = locked_email or (newly and key == throttle.email_key(email_index))
    return locked_email


def record_success(email_index: str) -> None:
    """A proven credential outside a login (reset, restore) clears the e-mail's counter (R9); the IP keeps counting."""
    throttle.clear(throttle.email_key(email_index))

"""The only source of "now": the system clock deployed, a forward-movable clock in the local stack and tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

_lock = threading.Lock()
_offset_s = 0.0


def now() -> datetime:
    """The platform's current time, timezone-aware UTC."""
    return datetime.fromtimestamp(timestamp(), tz=UTC)


def timestamp() -> float:
    """The platform's current time as Unix seconds."""
    return time.time() + _offset_s


def advance(seconds: float) -> datetime:
    """Move the platform clock forward (never backwards: session expiry and TOTP steps rely on it)."""
    global _offset_s  # noqa: PLW0603 - the clock is process-wide by design
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset_s += seconds
    return now()


def reset() -> None:
    """Return to the system clock (tests only)."""
    global _offset_s  # noqa: PLW0603
    with _lock:
        _offset_s = 0.0


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with a `Z` and whole seconds, as API.md writes every time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_at(epoch_s: float) -> str:
    """An epoch-seconds timestamp (as items store them) in API.md's RFC 3339 form."""
    return rfc3339(datetime.fromtimestamp(epoch_s, tz=UTC))


def parse(text: str) -> datetime:
    """RFC 3339 text (`Z` or an offset; naive when it has neither) as a datetime; ValueError when it is not a time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

"""Token buckets per API key and per account (R29), as GCRA: one theoretical arrival time (`tat`) per bucket."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from switchboard import clock
from switchboard.dal import ratelimit as store
from switchboard.models import plans

US = 1_000_000
# Idle items outlive their last possible use a little, then the purge job removes them.
EXPIRY_MARGIN_S = 60
# Idle -> busy -> (refused or applied): a third attempt only follows a lost race, a fourth cannot be needed.
MAX_ATTEMPTS = 3
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Decision:
    """One bucket's (or the tighter of two buckets') answer to one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int = 0  # when refused: seconds until one request fits

    def headers(self) -> dict[str, str]:
        """`RateLimit-*` (and `Retry-After` when refused) for the response."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class _LastSeen:
    """The last `tat` this process saw per bucket: picks the right update first, so one round-trip is the norm."""

    def __init__(self) -> None:
        self._tats: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def get(self, bucket: tuple[str, str]) -> int | None:
        with self._lock:
            return self._tats.get(bucket)

    def put(self, bucket: tuple[str, str], tat: int | None) -> None:
        with self._lock:
            if len(self._tats) >= _CACHE_LIMIT:
                self._tats.clear()
            if tat is None:
                self._tats.pop(bucket, None)
            else:
                self._tats[bucket] = tat


_last_seen = _LastSeen()


def _seconds_up(us: int) -> int:
    return max(0, math.ceil(us / US))


def take(bucket: tuple[str, str], limits: plans.Bucket) -> Decision:
    """Take one token from `bucket`, atomically; a refusal changes nothing."""
    interval = US // limits.rate_per_s
    capacity = limits.burst * interval
    now = int(clock.timestamp() * US)
    max_tat = now + capacity - interval  # the latest stored tat that still admits one more request
    expires_at = _seconds_up(now + capacity) + EXPIRY_MARGIN_S  # tat never exceeds now + capacity
    known = _last_seen.get(bucket)
    busy = known is not None and known >= now
    for _ in range(MAX_ATTEMPTS):
        if busy:
            attempt = store.advance_busy(
                bucket, interval_us=interval, now_us=now, max_tat_us=max_tat, expires_at=expires_at
            )
        else:
            attempt = store.start_idle(bucket, new_tat_us=now + interval, now_us=now, expires_at=expires_at)
        _last_seen.put(bucket, attempt.tat)
        if attempt.applied and attempt.tat is not None:
            return Decision(
                allowed=True,
                limit=limits.burst,
                remaining=(now + capacity - attempt.tat) // interval,
                reset_s=_seconds_up(attempt.tat - now),
            )
        if attempt.tat is not None and attempt.tat > max_tat:
            return _refused(limits, now=now, tat=attempt.tat, max_tat=max_tat)
        busy = attempt.tat is not None and attempt.tat >= now
    # Only reachable if the stored value keeps changing shape under us; refusing is the safe answer.
    return _refused(limits, now=now, tat=max_tat + interval, max_tat=max_tat)


def _refused(limits: plans.Bucket, *, now: int, tat: int, max_tat: int) -> Decision:
    return Decision(
        allowed=False,
        limit=limits.burst,
        remaining=0,
        reset_s=_seconds_up(tat - now),
        retry_after_s=max(1, _seconds_up(tat - max_tat)),
    )


def tighter(first: Decision, second: Decision) -> Decision:
    """The decision to report: a refusal over an admission, then the fewer remaining requests."""
    if first.allowed != second.allowed:
        return second if first.allowed else first
    if not first.allowed:
        return first if first.retry_after_s >= second.retry_after_s else second
    return first if (first.remaining, -first.reset_s) <= (second.remaining, -second.reset_s) else second


def check(*, account_id: str, key_id: str, plan: str) -> Decision:
    """Charge this request to its API key's bucket (if any), then its account's; stop at the first refusal."""
    limits = plans.get(plan)
    decision: Decision | None = None
    if key_id:
        decision = take(store.key_bucket(account_id, key_id), limits.per_key)
        if not decision.allowed:
            # One key over its limit must not drain the account's bucket that its sibling keys share.
            return decision
    account = take(store.account_bucket(account_id), limits.per_account)
    return account if decision is None else tighter(decision, account)

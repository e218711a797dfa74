"""Per-sender pacing: a token bucket per (sender number, carrier) in the Limits table keeps each carrier's pace."""

from __future__ import annotations

import time

from switchboard.dal import ratelimit as buckets
from switchboard.logic import ratelimit
from switchboard.models.plans import Bucket

# Messages per second per sender number (burst = one second's worth). WhatsApp Cloud API: 80/s per number.
RATES: dict[str, Bucket] = {"whatsapp": Bucket(80, 80)}
DEFAULT_RATE = Bucket(100, 100)
MAX_WAIT_S = 0.25  # wait this long at most for a token; beyond that the record goes back to its queue


class Paced(Exception):
    """The sender is at its carrier's pace: retry the record later (never dropped)."""


def rate(carrier: str) -> Bucket:
    """The pace of a carrier."""
    return RATES.get(carrier, DEFAULT_RATE)


class Pacer:
    """Takes a token for each submit; waits briefly when the bucket is empty, then gives up with Paced."""

    def __init__(self, account_id: str, sender: str) -> None:
        self.account_id = account_id
        self.sender = sender

    def wait(self, carrier: str) -> None:
        """Return once a token is taken; raise Paced when none frees up within MAX_WAIT_S."""
        limits = rate(carrier)
        waited = 0.0
        while True:
            decision = ratelimit.take(buckets.sender_bucket(self.account_id, carrier, self.sender), limits)
            if decision.allowed:
                return
            pause = 1.0 / limits.rate_per_s
            if waited + pause > MAX_WAIT_S:
                raise Paced(f"sender at {limits.rate_per_s}/s on {carrier}")
            # Real time, not the platform clock: this is a pause between two carrier calls.
            time.sleep(pause)
            waited += pause

"""A circuit breaker per carrier, shared by every worker through the Limits table (open, half-open probe, close)."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard import clock, signals
from switchboard.dal import circuits
from switchboard.observability import logger

FAILURES_TO_OPEN = 5
WINDOW_S = 60.0
COOLDOWN_S = 30.0


@dataclass
class Breaker:
    """Skip a carrier that failed `failures_to_open` times within `window_s`; probe it again after `cooldown_s`."""

    failures_to_open: int = FAILURES_TO_OPEN
    window_s: float = WINDOW_S
    cooldown_s: float = COOLDOWN_S
    _dirty: set[str] = field(default_factory=set)  # carriers whose stored state needs a reset on success
    _probing: set[str] = field(default_factory=set)

    def allow(self, carrier: str) -> bool:
        """False while the circuit is open; after the cool-down, True for the one caller that probes."""
        state = circuits.get(carrier)
        if state.failures:
            self._dirty.add(carrier)
        if state.open_until is None:
            return True
        self._dirty.add(carrier)
        now = clock.timestamp()
        if now < state.open_until:
            return False
        if circuits.claim_probe(carrier, now=now, probe_s=self.cooldown_s):
            self._probing.add(carrier)
            return True
        return False

    def success(self, carrier: str) -> None:
        """Close the circuit (only written when something was recorded, so healthy carriers cost no writes)."""
        if carrier in self._dirty:
            circuits.close(carrier)
            self._dirty.discard(carrier)
        self._probing.discard(carrier)

    def failure(self, carrier: str) -> None:
        """Count the failure; open the circuit at the threshold, or at once when a probe failed."""
        now = clock.timestamp()
        self._dirty.add(carrier)
        if carrier in self._probing:
            self._probing.discard(carrier)
            self._trip(carrier, until=now + self.cooldown_s)
            return
        if circuits.add_failure(carrier, now=now, window_s=self.window_s) >= self.failures_to_open:
            self._trip(carrier, until=now + self.cooldown_s)

    @staticmethod
    def _trip(carrier: str, *, until: float) -> None:
        circuits.trip(carrier, until=until)
        # The open-circuit alarm and GET /status read this (docs/alarms.md); the carrier is in the log line.
        signals.count(signals.CIRCUITS_OPENED)
        logger.warning("carrier circuit opened", extra={"carrier": carrier})

"""Routing and failover: an ordered list of carriers per channel and country; the same message moves down it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from switchboard import clock, settings
from switchboard.carriers.base import Carrier, CarrierError, CarrierRejected, CarrierTimeout, Outbound, Receipt

SANDBOX: tuple[str, ...] = ("sandbox-a", "sandbox-b")
# Deployed routes per channel; ROUTES_BY_COUNTRY overrides them for one (channel, ISO country).
ROUTES: dict[str, tuple[str, ...]] = {
    "whatsapp": ("whatsapp", "twilio"),
    "sms": ("twilio", "plivo"),
    "voice": ("twilio", "plivo"),
}
ROUTES_BY_COUNTRY: dict[tuple[str, str], tuple[str, ...]] = {}
CONNECT_TIMEOUT_S = 0.3  # what each adapter enforces per call (R63)
FAILOVER_BUDGET_S = 2.0  # a message that has not found a carrier by then is retried from the queue


def carriers_for(channel: str, country: str, *, mode: str) -> tuple[str, ...]:
    """The carriers to try, in order: sandbox for test-mode keys and the local stack, else the deployed route."""
    rules = settings.get().rules
    if mode == "test" or rules.test_mode:
        if not rules.sandbox_carriers:
            raise RuntimeError(f"a test-mode send in stage {settings.get().stage}, which has no sandbox carriers")
        return SANDBOX
    return ROUTES_BY_COUNTRY.get((channel, country), ROUTES[channel])


class Breaker(Protocol):
    """A circuit breaker shared by every worker (carriers.circuit.Breaker)."""

    def allow(self, carrier: str) -> bool: ...
    def success(self, carrier: str) -> None: ...
    def failure(self, carrier: str) -> None: ...


class Ledger(Protocol):
    """The per-(message, carrier) attempt records that make a send exactly-once per carrier."""

    def reserve(self, carrier: str) -> tuple[str, str] | None:
        """None when reserved for this call; else (outcome, carrier_message_id) of the record blocking it."""
        ...

    def accepted(self, carrier: str, receipt: Receipt) -> None: ...
    def ended(self, carrier: str, outcome: str) -> None: ...


class Pacer(Protocol):
    """Takes a token per submit (raises to return the record to its queue)."""

    def wait(self, carrier: str) -> None: ...


@dataclass(frozen=True)
class Tried:
    """One carrier attempt as the message log shows it."""

    carrier: str
    outcome: str  # accepted | failed | timeout | skipped
    at: str


@dataclass
class Result:
    """How failover ended: a receipt (maybe recovered from an earlier acceptance), or none; every attempt."""

    receipt: Receipt | None = None
    attempts: list[Tried] = field(default_factory=list)
    expired: bool = False
    rejected: CarrierRejected | None = None  # the message itself was refused: no other carrier is tried
    seconds: float = 0.0


def _now() -> str:
    return clock.rfc3339(clock.now())


def failover(
    msg: Outbound,
    names: Sequence[str],
    *,
    adapter: Callable[[str], Carrier],
    breaker: Breaker,
    ledger: Ledger,
    pacer: Pacer,
    still_valid: Callable[[], bool] = lambda: True,
    budget_s: float = FAILOVER_BUDGET_S,
    for_carrier: Callable[[Outbound, str], Outbound] | None = None,
) -> Result:
    """Submit `msg` to the first carrier that takes it; a carrier that accepted is never asked twice.

    `for_carrier` gives the message as one carrier gets it (its media links name that carrier, so a link handed to
    one carrier is no good to the next).
    """
    result = Result()
    started = time.monotonic()
    for name in names:
        if not still_valid():
            result.expired = True
            break
        if time.monotonic() - started > budget_s:
            break
        if not breaker.allow(name):
            result.attempts.append(Tried(name, "skipped", _now()))
            continue
        pacer.wait(name)
        # Built before the attempt is reserved: a failure here leaves no attempt pending.
        submitted = for_carrier(msg, name) if for_carrier else msg
        blocked = ledger.reserve(name)
        if blocked is not None:
            outcome, carrier_message_id = blocked
            if outcome == "accepted":
                # An earlier delivery of this record got it accepted: recover, never resubmit.
                result.receipt = Receipt(carrier=name, carrier_message_id=carrier_message_id)
                break
            result.attempts.append(Tried(name, "skipped", _now()))
            continue
        try:
            receipt = adapter(name).submit(submitted)
        except CarrierRejected as rejection:
            # The carrier works but refuses this message (bad number, template...): every carrier would.
            ledger.ended(name, "failed")
            breaker.success(name)
            result.attempts.append(Tried(name, "failed", _now()))
            result.rejected = rejection
            break
        except CarrierTimeout:
            ledger.ended(name, "timeout")
            breaker.failure(name)
            result.attempts.append(Tried(name, "timeout", _now()))
            continue
        except CarrierError:
            ledger.ended(name, "failed")
            breaker.failure(name)
            result.attempts.append(Tried(name, "failed", _now()))
            continue
        # The acceptance is written before anything else can fail: this carrier never gets the message again.
        ledger.accepted(name, receipt)
        result.attempts.append(Tried(name, "accepted", _now()))
        breaker.success(name)
        result.receipt = receipt
        break
    result.seconds = time.monotonic() - started
    return result

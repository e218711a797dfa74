"""A platform clock held still and moved only by the test, for limits and expiries measured in milliseconds."""

from collections.abc import Iterator

import pytest

from switchboard import clock

T0 = 1_800_000_000.0


class FrozenClock:
    """Stands in for `switchboard.clock.timestamp`; `clock.now()` follows it."""

    def __init__(self) -> None:
        self.now = T0

    def timestamp(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(name="frozen")
def frozen_clock(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenClock]:
    """The platform clock frozen at T0 (after the moto fixture is up)."""
    from switchboard.logic import ratelimit  # noqa: PLC0415 - its per-process memory must start empty per test

    frozen = FrozenClock()
    monkeypatch.setattr(clock, "timestamp", frozen.timestamp)
    ratelimit._last_seen._tats.clear()
    yield frozen
    ratelimit._last_seen._tats.clear()

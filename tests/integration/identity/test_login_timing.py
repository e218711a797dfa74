"""R8: a failed login takes the same time whether or not the e-mail exists (a floor hides the extra work)."""

import statistics
import time

import pytest

from switchboard import settings
from tests.integration.identity.support import login, register

FLOOR_MS = 300


def _median_ms(email: str, runs: int = 5) -> tuple[float, float]:
    durations = []
    for attempt in range(runs):
        started = time.perf_counter()
        # A new IP each time keeps the per-IP throttle (R10) out of the measurement.
        answer = login(email, "a wrong password for sure", ip=f"203.0.113.{attempt + 10}")
        durations.append((time.perf_counter() - started) * 1000)
        assert (answer.status, answer.body["code"]) == (401, "invalid_credentials")
    return statistics.median(durations), min(durations)


def test_login_r8_failures_take_the_same_time_for_known_and_unknown_emails(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register("known@example.com")
    monkeypatch.setenv("LOGIN_FAILURE_FLOOR_MS", str(FLOOR_MS))
    settings.reload()
    known_median, known_min = _median_ms("known@example.com")
    unknown_median, unknown_min = _median_ms("nobody@example.com")
    assert min(known_min, unknown_min) >= FLOOR_MS
    assert abs(known_median - unknown_median) < 50

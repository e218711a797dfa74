"""R8: a failed login takes the same time whether or not the e-mail exists (a floor hides the extra work)."""

import statistics
import time

import pytest

from switchboard import settings
from tests.integration.identity.support import login, register

FLOOR_MS = 300


def _timings_ms(emails: tuple[str, ...], runs: int = 5) -> dict[str, list[float]]:
    """Failed-login durations per e-mail, the e-mails taking turns so that both meet the same machine load."""
    durations: dict[str, list[float]] = {email: [] for email in emails}
    for attempt in range(runs):
        for n, email in enumerate(emails):
            started = time.perf_counter()
            # A new IP each time keeps the per-IP throttle (R10) out of the measurement.
            answer = login(email, "a wrong password for sure", ip=f"203.0.113.{10 + attempt * len(emails) + n}")
            durations[email].append((time.perf_counter() - started) * 1000)
            assert (answer.status, answer.body["code"]) == (401, "invalid_credentials")
    return durations


def test_login_r8_failures_take_the_same_time_for_known_and_unknown_emails(
    identity: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register("known@example.com")
    monkeypatch.setenv("LOGIN_FAILURE_FLOOR_MS", str(FLOOR_MS))
    settings.reload()
    timings = _timings_ms(("known@example.com", "nobody@example.com"))
    known, unknown = timings["known@example.com"], timings["nobody@example.com"]
    assert min(known + unknown) >= FLOOR_MS
    assert abs(statistics.median(known) - statistics.median(unknown)) < 50

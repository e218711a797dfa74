"""F19 (R69, RFC 9116 §2.5.5): security.txt's `Expires` is a fixed date, renewed by a person; CI fails from 30 days
before it, so the renewal cannot be forgotten, and the platform clock (or time passing) never moves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from switchboard import clock, settings
from switchboard.logic import security_txt

RENEW_BEFORE = timedelta(days=30)
AT_MOST = timedelta(days=366)


def _expires(text: str) -> datetime:
    [value] = [line.removeprefix("Expires: ") for line in text.splitlines() if line.startswith("Expires: ")]
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_expires_is_at_least_30_days_and_at_most_a_year_away_in_real_time() -> None:
    # The wall clock, not the platform's: this is the date the world reads.
    now = datetime.now(UTC)
    expires = _expires(security_txt.render())
    assert expires - now >= RENEW_BEFORE, (
        f"security.txt expires on {expires:%Y-%m-%d}: check its fields and move EXPIRES in "
        "switchboard/logic/security_txt.py to a date under a year ahead (docs/runbooks.md#securitytxt)"
    )
    assert expires - now <= AT_MOST, "RFC 9116 §2.5.5: Expires should be less than a year ahead"


@pytest.fixture(autouse=True)
def local_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STAGE", "local")
    settings.reload()
    yield
    settings.reload()


@pytest.fixture
def platform_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def test_expires_is_a_fixed_value_independent_of_the_clock(platform_clock: None) -> None:
    seen = set()
    for step in (0, 1, 86_400, 180 * 86_400, 400 * 86_400, 5 * 365 * 86_400):
        clock.advance(step)
        seen.add(_expires(security_txt.render()))
    assert seen == {security_txt.EXPIRES}

"""Property: the login throttle and the API token buckets never admit more than their rate, however requests race.

Each example runs its rounds of parallel requests on real threads against moto (serialized per request, as DynamoDB
applies each write atomically), on a fresh e-mail, IP and bucket, with the platform clock moved only by the example.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.logic import ratelimit, throttle
from switchboard.models import plans
from tests.integration.frozen import FrozenClock
from tests.integration.moto_atomic import serialized_moto
from tests.security.identity_fixtures import (  # noqa: F401 - fixtures
    _handlers_run_as_deployed,
    aws,
    frozen_clock,
    identity,
)

T = TypeVar("T")
PROPERTY = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_fresh = itertools.count()


def _all_at_once(jobs: list[Callable[[], T]]) -> list[T]:
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], T]) -> T:
        start.wait()
        return job()

    with serialized_moto(), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


OUTCOMES = st.sampled_from(["fail", "succeed", "abandon"])
ROUND = st.tuples(st.lists(OUTCOMES, min_size=1, max_size=24), st.integers(min_value=0, max_value=400))


@PROPERTY
@given(rounds=st.lists(ROUND, min_size=1, max_size=4))
def test_login_throttle_never_lets_more_than_ten_guesses_fail_per_ip_and_window(
    identity: dict[str, str],  # noqa: F811
    frozen: FrozenClock,
    rounds: list[tuple[list[str], int]],
) -> None:
    n = next(_fresh)
    ip = f"10.{n // 250}.{n % 250}.1"
    window_start: float | None = None  # the counters' fixed window, as the first admitted attempt opens it
    in_window = 0

    def attempt(outcome: str) -> Callable[[], str]:
        def go() -> str:
            try:
                admitted = throttle.admit(f"prop-{n}", ip)
            except throttle.TooManyAttempts:
                return "refused"
            {"fail": admitted.failed, "succeed": admitted.succeeded, "abandon": admitted.release}[outcome]()
            return outcome

        return go

    for index, (outcomes, advance_s) in enumerate(rounds):
        answers = Counter(_all_at_once([attempt(o) for o in outcomes]))
        if answers["refused"] < len(outcomes) and (
            window_start is None or window_start < frozen.now - throttle.WINDOW_S
        ):
            window_start, in_window = frozen.now, 0
        in_window += answers["fail"]
        # Safety: one IP never gets more than ten wrong guesses in a window (R10), however many arrive at once.
        assert in_window <= throttle.MAX_FAILURES, (rounds, answers)
        # Liveness: the first burst is refused only beyond ten requests (fewer when slots come back meanwhile).
        if index == 0:
            assert answers["refused"] <= max(0, len(outcomes) - throttle.MAX_FAILURES), answers
        frozen.advance(advance_s)


@PROPERTY
@given(
    rate=st.integers(min_value=1, max_value=20),
    burst_extra=st.integers(min_value=0, max_value=20),
    rounds=st.lists(
        st.tuples(st.integers(min_value=1, max_value=30), st.floats(min_value=0, max_value=2, allow_nan=False)),
        min_size=1,
        max_size=4,
    ),
)
def test_token_bucket_never_admits_more_than_burst_plus_rate_times_elapsed(
    frozen: FrozenClock, rate: int, burst_extra: int, rounds: list[tuple[int, float]]
) -> None:
    limits = plans.Bucket(rate_per_s=rate, burst=rate + burst_extra)
    bucket = (f"ACCT#acct_prop{next(_fresh)}", "RATE#ACCOUNT")
    started = frozen.now
    admitted = 0
    for parallel, advance_s in rounds:
        decisions = _all_at_once([lambda: ratelimit.take(bucket, limits)] * parallel)
        allowed = sum(d.allowed for d in decisions)
        admitted += allowed
        elapsed = frozen.now - started
        assert admitted <= limits.burst + rate * elapsed + 1e-9, (limits, rounds)
        # A bucket that was full at the round's start admits min(parallel, burst) at once, never fewer.
        if elapsed == 0 and admitted == allowed:
            assert allowed == min(parallel, limits.burst), (limits, parallel, decisions)
        assert all(d.retry_after_s >= 1 for d in decisions if not d.allowed)
        frozen.advance(advance_s)

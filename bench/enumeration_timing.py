"""Signup and password-reset latency through the local stack: known vs unknown e-mail addresses (R6, R8 timing).

25 requests of each kind, known and unknown interleaved so drift hits both alike; between two timed requests the
outbox is read (untimed), which waits for mail_worker, so each request meets an idle stack as a deployed request
meets its own Lambda. Prints the medians and their difference; exits 1 when a difference reaches 5 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.login_latency import PASSWORD, Stack, expect, row, verified_user

RUNS = 25
GAP_MS = 5.0


def timed(stack: Stack, path: str, body: dict[str, Any], expected: int) -> float:
    """One request timed end to end in ms, after the stack's queued mail work is done."""
    stack.request("GET", "/_local/outbox")
    started = time.perf_counter()
    status, answer = stack.request("POST", path, body)
    elapsed = (time.perf_counter() - started) * 1000
    expect(status == expected, f"{path} answered {status} (expected {expected}): {answer}")
    return elapsed


def compare(
    stack: Stack,
    known: Callable[[int], tuple[str, dict[str, Any]]],
    unknown: Callable[[int], tuple[str, dict[str, Any]]],
) -> tuple[list[float], list[float]]:
    """RUNS timed requests each, alternating which kind goes first."""
    known_ms: list[float] = []
    unknown_ms: list[float] = []
    for run in range(RUNS):
        pair = [(known_ms, known(run)), (unknown_ms, unknown(run))]
        for samples, (path, body) in pair if run % 2 else reversed(pair):
            samples.append(timed(stack, path, body, 202))
    return known_ms, unknown_ms


def main() -> int:
    """Print the medians of known and unknown addresses for reset and signup; 1 when a gap is 5 ms or more."""
    with tempfile.TemporaryDirectory() as directory:
        stack = Stack(Path(directory))
        try:
            stack.wait_ready()
            email = "bench-known@example.com"
            verified_user(stack, email)

            def signup(address: str) -> tuple[str, dict[str, Any]]:
                return "/v1/signup", {"email": address, "password": PASSWORD, "account_name": "Bench"}

            reset = compare(
                stack,
                lambda _: ("/v1/password-resets", {"email": email}),
                lambda run: ("/v1/password-resets", {"email": f"nobody{run}@example.com"}),
            )
            signups = compare(stack, lambda _: signup(email), lambda run: signup(f"new{run}@example.com"))
        finally:
            stack.stop()
    print(f"Enumeration timing through the local stack, {RUNS} requests each (ms)")
    print(f"{'':<34} {'median':>8} {'p95':>8} {'max':>8}")
    gaps = []
    for name, (known, unknown) in (("reset", reset), ("signup", signups)):
        print(row(f"{name}: known address", known))
        print(row(f"{name}: unknown address", unknown))
        gap = statistics.median(known) - statistics.median(unknown)
        gaps.append(abs(gap))
        print(f"{name}: median difference known - unknown {gap:+.1f} ms (goal: within {GAP_MS:.0f} ms)")
    return 0 if max(gaps) < GAP_MS else 1


if __name__ == "__main__":
    sys.exit(main())

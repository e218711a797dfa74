"""Login latency through the local stack (POST /v1/sessions): a verified user vs unknown e-mails (R8 timing)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = 20
PASSWORD = "lantern quasar velvet plumbing"  # noqa: S105 - the benchmark user's password, local only
THROTTLE_AFTER = 9  # stay under the 10-failures-per-IP window (R10), then move the clock past it
THROTTLE_WINDOW_S = 15 * 60
STARTUP_TIMEOUT_S = 60.0
R8_GAP_MS = 50.0


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Stack:
    """`python -m local` on a free port, spoken to over HTTP."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.log = directory / "stderr.txt"
        env = {**os.environ, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        with (directory / "stdout.txt").open("wb") as out, self.log.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=out, stderr=err)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - always http://127.0.0.1
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the local stack exited:\n{self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the local stack did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def expect(condition: bool, message: str) -> None:
    """Stop the benchmark with `message` (a wrong answer makes every figure meaningless)."""
    if not condition:
        raise SystemExit(message)


def verified_user(stack: Stack, email: str) -> None:
    """Sign up and confirm the e-mail with the token from the outbox."""
    status, _ = stack.request("POST", "/v1/signup", {"email": email, "password": PASSWORD, "account_name": "Bench"})
    expect(status == 202, f"signup answered {status}")
    outbox = stack.request("GET", "/_local/outbox")[1]["data"]
    token = next(m["token"] for m in outbox if m["to"] == email and m.get("token"))
    expect(stack.request("POST", "/v1/email-verifications", {"token": token})[0] == 200, "verification failed")


def timed_logins(stack: Stack, body: Callable[[int], dict[str, str]], expected: int, *, failing: bool) -> list[float]:
    """RUNS logins, each timed end to end in ms; failing logins move the clock past the throttle window."""
    samples = []
    for run in range(RUNS):
        if failing and run % THROTTLE_AFTER == 0:
            stack.request("POST", "/_local/clock", {"advance_s": THROTTLE_WINDOW_S + 1})
        started = time.perf_counter()
        status, answer = stack.request("POST", "/v1/sessions", body(run))
        samples.append((time.perf_counter() - started) * 1000)
        expect(status == expected, f"login answered {status} (expected {expected}): {answer}")
    return samples


def row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{label:<34} {statistics.median(ordered):>8.1f} {p95:>8.1f} {max(ordered):>8.1f}"


def main() -> int:
    """Print median/p95/max of each kind of login; exit 1 when the R8 medians differ by 50 ms or more."""
    with tempfile.TemporaryDirectory() as directory:
        stack = Stack(Path(directory))
        try:
            stack.wait_ready()
            email = "bench@example.com"
            verified_user(stack, email)
            known = timed_logins(stack, lambda _: {"email": email, "password": PASSWORD}, 201, failing=False)
            unknown = timed_logins(
                stack, lambda run: {"email": f"nobody{run}@example.com", "password": PASSWORD}, 401, failing=True
            )
            wrong = timed_logins(
                stack, lambda _: {"email": email, "password": "not the password at all"}, 401, failing=True
            )
        finally:
            stack.stop()
    print(f"Login latency through the local stack, {RUNS} runs each (ms)")
    print(f"{'':<34} {'median':>8} {'p95':>8} {'max':>8}")
    print(row("verified user, right password", known))
    print(row("unknown e-mail", unknown))
    print(row("verified user, wrong password", wrong))
    gap = abs(statistics.median(unknown) - statistics.median(wrong))
    print(f"R8: unknown vs known-but-wrong median gap {gap:.1f} ms (goal < {R8_GAP_MS:.0f} ms)")
    return 0 if gap < R8_GAP_MS else 1


if __name__ == "__main__":
    sys.exit(main())

"""The local stack as a subprocess (`python -m local` on a free port), shared by every e2e test of a worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A port nothing listens on right now (the stack binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """True when nothing listens on the port any more (connections in TIME_WAIT do not count, as for any server)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class LocalStack:
    """A running `python -m local` and how to talk to it."""

    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        merged = {"Content-Type": "application/json"} if data is not None else {}
        merged.update(headers or {})
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=merged)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers.items()), error.read())

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_ready(self) -> float:
        """Seconds until /v1/health answers 200 (fails with the stack's log when it dies or takes too long)."""
        started = time.monotonic()
        while time.monotonic() - started < STARTUP_TIMEOUT_S:
            if self.process.poll() is not None:
                pytest.fail(f"the local stack exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if self.request("GET", "/v1/health").status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the local stack did not answer within {STARTUP_TIMEOUT_S}s:\n{self.log()[-3000:]}")

    def interrupt(self) -> int:
        """Ctrl-C, then wait for the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


# What the e2e stack reads from its environment beyond the defaults: a 1 s first webhook retry (it doubles), so the
# retry path can be watched end to end (switchboard.settings reads WEBHOOK_RETRY_BASE_S).
E2E_ENV = {"WEBHOOK_RETRY_BASE_S": "1"}


def start_stack(
    directory: Path, port: int | None = None, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> LocalStack:
    """Start `python -m local [args]` on a free port (or `port`), output in `directory`, with `env` on top of ours."""
    port = port or free_port()
    stdout, stderr = directory / "stdout.txt", directory / "stderr.txt"
    env = {**os.environ, **(env or {}), "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "local", *args], cwd=ROOT, env=env, stdout=out, stderr=err)
    return LocalStack(process, port, stdout, stderr)


@contextmanager
def running_stack(
    directory: Path, *, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[LocalStack]:
    """A started stack that answers; stopped with Ctrl-C at the end, which must exit 0."""
    running = start_stack(directory, env=env, args=args)
    try:
        running.wait_ready()
        yield running
    finally:
        if running.process.poll() is None:
            assert running.interrupt() == 0, running.log()[-3000:]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One local stack per test worker, stopped with Ctrl-C at the end (it must exit 0 and free its port)."""
    with running_stack(tmp_path_factory.mktemp("local-stack"), env=E2E_ENV) as running:
        yield running
    assert port_is_free(running.port)

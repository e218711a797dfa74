"""`python -m local` starts fast, prints the quickstart, and stops cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import port_is_free, start_stack

pytestmark = pytest.mark.e2e


def test_local_stack_prints_the_quickstart_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        # Startup time is reported, not asserted: on a loaded CI machine it varies (idle, /v1/health answers in ~1 s).
        stack.wait_ready()
        assert stack.interrupt() == 0
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
    printed = stack.stdout.read_text()
    assert f"Switchboard is running at {stack.base_url}" in printed
    assert f"curl -X POST {stack.base_url}/v1/signup -H 'content-type: application/json'" in printed
    assert f"curl {stack.base_url}/_local/outbox" in printed
    assert f"{stack.base_url}/docs" in printed
    assert f"the console:  {stack.base_url}/console " in printed
    assert printed.rstrip().endswith("Switchboard stopped")
    assert port_is_free(stack.port)
    assert "Traceback" not in stack.log()


def test_local_stack_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        stack.wait_ready()
        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(timeout=30) == 0
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
    assert port_is_free(stack.port)


def test_local_stack_refuses_a_busy_port_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        stack = start_stack(tmp_path, port=busy.getsockname()[1])
        assert stack.process.wait(timeout=30) == 1
    assert f"cannot start on port {stack.port}" in stack.log()

"""`switchboard webhooks listen` against `make dev`'s stack, as a subprocess: it forwards a new event to a local server
that verifies both signatures with the secret the CLI printed, and ^C stops it with exit 0."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from switchboard.logic import webhooks
from tests.e2e.conftest import ROOT, LocalStack
from tests.e2e.test_cli import cli_env
from tests.e2e.test_conversations import _signup, call

pytestmark = pytest.mark.e2e
READY_TIMEOUT_S = 60
EVENT_TIMEOUT_S = 45  # the event settles (1 s), then the next long-poll look (about every second) brings it


class Receiver:
    """A local webhook receiver: checks each POST's signatures with `secret` (once known), answers 200 or 400."""

    def __init__(self) -> None:
        self.secret = ""
        self.verified: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.refused: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
                now = time.time()
                good = webhooks.verify_signature(
                    receiver.secret, headers.get("switchboard-signature", ""), body, now
                ) and webhooks.verify_standard(receiver.secret, headers, body, now)
                if good:
                    receiver.verified.put((headers, body))
                else:
                    receiver.refused.append(body)
                self.send_response(200 if good else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _wait_for_line(lines: queue.Queue[str], seen: list[str], needle: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} in {seen}")


def test_listen_forwards_a_signed_event_the_local_server_verifies(
    stack: LocalStack, receiver: Receiver, tmp_path: Path
) -> None:
    key = _signup(stack)["developer"]
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard_cli", "webhooks", "listen", "--forward-to", receiver.url],
        cwd=ROOT,
        env=cli_env(stack, tmp_path, key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, out), daemon=True).start()
    seen: list[str] = []
    try:
        ready = _wait_for_line(out, seen, "Ready!", READY_TIMEOUT_S)
        receiver.secret = ready.split("secret is ", 1)[1].split(" ", 1)[0]
        assert receiver.secret.startswith("whsec_")

        # An event after the start: a recipient opts out (recipient.opted_out).
        recipient = call(stack, key, "POST", "/v1/recipients", {"phone": "+14155550177"})
        assert recipient.status == 201, recipient.text
        rid = recipient.json()["id"]
        opted = call(
            stack,
            key,
            "POST",
            f"/v1/recipients/{rid}/consents",
            {"channel": "sms", "status": "opted_out", "source": "api"},
        )
        assert opted.status == 201, opted.text

        headers, body = receiver.verified.get(timeout=EVENT_TIMEOUT_S)
        event = json.loads(body)
        assert event["type"] == "recipient.opted_out"
        assert event["data"]["recipient_id"] == rid
        assert headers["switchboard-event-id"] == headers["webhook-id"] == event["id"]
        assert headers["user-agent"] == "Switchboard-Webhooks/1"
        assert receiver.refused == []
        # The same event as the API keeps it: the body is the event, exactly.
        kept = call(stack, key, "GET", f"/v1/events/{event['id']}")
        assert kept.status == 200
        assert kept.json() == event
        _wait_for_line(out, seen, f"<-- [200] POST {receiver.url} [{event['id']}]", 10)
        assert any(f"--> recipient.opted_out [{event['id']}]" in line for line in seen)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, process.stderr.read() if process.stderr else ""

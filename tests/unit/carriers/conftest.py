"""Fake carriers on 127.0.0.1 (stdlib http.server in a thread): they record each request and answer as told."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import pytest_socket

from switchboard import settings

PUBLIC_BASE_URL = "https://api.switchboard.test"


@dataclass(frozen=True)
class Recorded:
    """One request a fake carrier received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class FakeCarrier:
    """What the fake answers (status, JSON body, delay) and what it was sent."""

    url: str = ""
    status: int = 200
    body: bytes = b"{}"
    delay_s: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake carrier received no request"
        return self.requests[-1]


def _handler(fake: FakeCarrier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            fake.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if fake.delay_s:
                # Released at teardown, so a "slow carrier" thread never outlives its test.
                fake.released.wait(fake.delay_s)
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)
            except OSError:
                return  # the client gave up (timeout): nothing to answer

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def loopback_only() -> None:
    """Sockets allowed, to 127.0.0.1 only (pytest-socket lifts the restriction after the test)."""
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)


@pytest.fixture
def fake_carrier(loopback_only: None) -> Iterator[FakeCarrier]:
    """A fake carrier API on a free loopback port, stopped after the test."""
    fake = FakeCarrier()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


@pytest.fixture
def unaccepting_port(loopback_only: None) -> Iterator[int]:
    """A loopback port whose accept queue is full: a new connection's SYN is dropped, so connect hangs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.fixture(autouse=True)
def _public_base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    settings.reload()
    yield
    monkeypatch.delenv("PUBLIC_BASE_URL")
    settings.reload()

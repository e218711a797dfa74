"""A fake carrier media host on loopback: answers each path as a test plans it (bytes, a redirect, an error) and
records every request (path and headers), like Twilio's API and CDN, Meta's Graph API and lookaside host, Plivo's
media host would be seen by media_worker."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    """One planned answer: a status, headers and a body; `times` answers of it, then the next one planned."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1_000_000
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class MediaHost:
    """The running fake: `plan[path]` is the list of answers for a path (first first); `seen` what came in."""

    base_url: str
    plan: dict[str, list[Answer]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, path: str, *answers: Answer) -> str:
        """Plan `path`'s answers; its full URL."""
        self.plan[path] = list(answers)
        return f"{self.base_url}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        """The headers of every request to `path`."""
        return [headers for seen, headers in self.seen if seen == path]


@contextmanager
def media_host() -> Iterator[MediaHost]:
    """A fake media host on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    host: MediaHost

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            answers = host.plan.get(self.path) or [Answer(404, b'{"error": "not found"}')]
            answer = answers[0]
            answer.times -= 1
            if answer.times <= 0 and len(answers) > 1:
                answers.pop(0)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.declare_length:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped at its bound
                self.wfile.write(answer.body)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host = MediaHost(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()

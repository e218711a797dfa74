"""Every outbound HTTP request: one total deadline (connect, TLS, request, headers, body) and a bounded answer."""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# http.client bounds the status line and each header line (64 KiB) and counts headers (100); the body is ours.
DEFAULT_MAX_BODY = 64 * 1024
CHUNK = 8192


class Failed(Exception):
    """No usable answer within the deadline: `kind` is "timeout", "too_large" or the error's type name."""

    def __init__(self, kind: str, detail: str = "", *, connected: bool) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.connected = connected  # False: nothing reached the server (refused, connect timeout, DNS)

    @property
    def timed_out(self) -> bool:
        """The deadline (or the connect timeout) passed."""
        return self.kind == "timeout"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: the status, and at most the bound's bytes of the body (`truncated` when more came)."""

    status: int
    body: bytes
    truncated: bool = False
    location: str = ""  # a redirect's Location header (followed only by callers that check it: carriers.media_fetch)


class _Armed:
    """A socket whose every send and receive may take only what is left of the request's deadline.

    A socket timeout bounds each call, not the request: a server dripping one byte per call would never be cut off.
    Re-arming the timeout to the time left before each call makes the sum of the calls the deadline.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        self.sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self.arm()
        self.sock.sendall(data)  # one sendall's timeout is its total (Python >= 3.5)

    def makefile(self, mode: str = "rb", *_args: object, **_kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        self.sock.close()

    def idle_and_open(self) -> bool:
        """Reusable: nothing unread and not closed by the peer (a readable idle socket is EOF or junk)."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class _Reader(io.RawIOBase):
    def __init__(self, armed: _Armed) -> None:
        self.armed = armed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.armed.arm()
        return self.armed.sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    """http.client on a socket we opened and armed (so the parser's reads obey the deadline too)."""

    def __init__(self, armed: _Armed, host_header: str) -> None:
        super().__init__(host_header)
        self.armed = armed
        self.sock = armed

    def connect(self) -> None:  # never called: the socket is connected before this object exists
        raise http.client.NotConnected

    def close(self) -> None:
        # http.client closes the connection when the answer says it will close; the socket is ours to close
        # (Client.request does, once the body is read), as a real socket waits for its open makefile too.
        self.sock = None


Origin = tuple[str, str, int, str]  # scheme, address or host to connect to, port, TLS server name


def connect(address: str, port: int, timeout_s: float) -> socket.socket:
    """A TCP connection to `address` (an IP literal, or a carrier's name) within `timeout_s` (tests route it)."""
    return socket.create_connection((address, port), timeout=timeout_s)


def _open(origin: Origin, deadline: float, connect_timeout_s: float, context: ssl.SSLContext | None) -> _Armed:
    scheme, address, port, server_name = origin
    left = deadline - time.monotonic()
    sock = connect(address, port, max(0.001, min(connect_timeout_s, left)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    armed = _Armed(sock, deadline)
    if scheme == "https":
        tls_context = context or ssl.create_default_context()
        tls = tls_context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
        armed.sock = tls
        armed.arm()
        tls.do_handshake()  # one SSL call: its timeout bounds the whole handshake
    return armed


class Client:
    """Posts with a total deadline; keeps idle connections per origin for reuse (thread-safe, small)."""

    def __init__(self, *, keep_alive: bool = False, max_idle: int = 4) -> None:
        self.keep_alive = keep_alive
        self.max_idle = max_idle
        self._idle: dict[Origin, list[_Armed]] = {}
        self._lock = threading.Lock()

    def _take(self, origin: Origin) -> _Armed | None:
        with self._lock:
            pool = self._idle.get(origin, [])
            while pool:
                armed = pool.pop()
                if armed.idle_and_open():
                    return armed
                armed.close()
        return None

    def _give(self, origin: Origin, armed: _Armed) -> None:
        with self._lock:
            pool = self._idle.setdefault(origin, [])
            if len(pool) < self.max_idle:
                pool.append(armed)
                return
        armed.close()

    def request(
        self,
        method: str,
        origin: Origin,
        path: str,
        *,
        host_header: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
        connect_timeout_s: float | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        excess: Literal["truncate", "refuse"] = "refuse",
        context: ssl.SSLContext | None = None,
    ) -> Reply:
        """Send one request; the answer (status, and at most `max_body` bytes) within `timeout_s` in all.

        `excess="truncate"` keeps the first `max_body` bytes and drops the connection; "refuse" raises
        Failed("too_large"). Never retried, never redirected. Raises Failed for every way of not getting an answer.
        """
        deadline = time.monotonic() + timeout_s
        connected = False
        armed = self._take(origin) if self.keep_alive else None
        try:
            if armed is None:
                armed = _open(origin, deadline, connect_timeout_s or timeout_s, context)
            armed.deadline = deadline
            connected = True
            conn = _Connection(armed, host_header)
            conn.request(method, path, body=body, headers={"Host": host_header, **headers})
            response = conn.getresponse()
            data, truncated = _read(response, max_body, excess)
        except Failed:
            if armed is not None:
                armed.close()
            raise
        except TimeoutError as error:
            if armed is not None:
                armed.close()
            raise Failed("timeout", str(error), connected=connected) from None
        except ssl.SSLError as error:
            if armed is not None:
                armed.close()
            raise Failed("SSLError", str(error), connected=connected) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            if armed is not None:
                armed.close()
            raise Failed(type(error).__name__, str(error), connected=connected) from None
        if self.keep_alive and not truncated and not response.will_close and armed is not None:
            self._give(origin, armed)
        else:
            armed.close()
        location = (response.getheader("Location") or "")[:2048]
        return Reply(status=response.status, body=data, truncated=truncated, location=location)


def _read(response: http.client.HTTPResponse, max_body: int, excess: str) -> tuple[bytes, bool]:
    declared = response.getheader("Content-Length")
    if excess == "refuse" and declared and declared.isdigit() and int(declared) > max_body:
        raise Failed("too_large", f"Content-Length {declared} > {max_body}", connected=True)
    chunks: list[bytes] = []
    size = 0
    while True:
        # Never more than one byte past the bound is read: it is what tells "exactly the bound" from "more".
        chunk = response.read1(min(CHUNK, max_body + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        size += len(chunk)
        if size > max_body:
            if excess == "refuse":
                raise Failed("too_large", f"more than {max_body} bytes", connected=True)
            kept = max_body - (size - len(chunk))
            chunks.append(chunk[:kept])
            return b"".join(chunks), True
        chunks.append(chunk)


def host_header(host: str, port: int, scheme: str) -> str:
    """The Host header for `host`: bracketed when IPv6, with the port unless it is the scheme's default."""
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"

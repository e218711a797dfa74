"""The SSRF-safe webhook sender (R42): checked URL, one DNS lookup, pinned IP, TLS for the name, no redirects."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from switchboard import outbound, urls

MAX_RESPONSE_BYTES = 4096  # read a little of the answer (so the connection ends cleanly), then discard it
TIMEOUT_S = 5.0  # the total of one delivery: DNS, connect, TLS, request, headers and body (settings can lower it)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL or an address it resolves to is not a place we send webhooks to."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL, split into what the connection needs."""

    scheme: str
    host: str  # the hostname (lower case) or IP literal, without brackets
    port: int
    path: str  # path and query, as the request line carries it

    @property
    def host_header(self) -> str:
        """The Host header: the name the customer wrote, with a non-default port."""
        return outbound.host_header(self.host, self.port, self.scheme)


@dataclass(frozen=True)
class Answer:
    """What one POST came to: an HTTP status, or an error with no status."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        """2xx, and nothing else (a 3xx is not followed: a failure)."""
        return self.status is not None and 200 <= self.status < 300


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to: the delivery's one DNS lookup (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def forbidden(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why we never connect to `address` (None when it is a public unicast address): urls.address_problem."""
    return urls.address_problem(address, allow_loopback=allow_loopback)


def parse_target(url: str, *, local: bool) -> Target:
    """Check a webhook URL's form: https on 443 (deployed), no userinfo, no forbidden IP literal."""
    if urls.has_unsafe_characters(url):
        # urlsplit silently drops tabs and newlines: what is stored would not be what is requested.
        raise TargetRefused("the URL contains control characters, spaces or invisible characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL ({error})") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise TargetRefused("credentials in the URL are not allowed")
    if parts.fragment:
        raise TargetRefused("a fragment is never sent: remove it")
    # The local stack lets developers receive webhooks on their own machine, on any port.
    loopback_dev = local and host in LOCAL_HOSTS and parts.scheme in {"http", "https"}
    if not loopback_dev:
        if parts.scheme != "https":
            raise TargetRefused("only https URLs are allowed")
        if port not in {None, 443}:
            raise TargetRefused("only port 443 is allowed")
    # The host must be a DNS name or an IP literal before anything resolves it (a resolver would otherwise get
    # control characters, IPvFuture or inet_aton forms such as `2130706433`).
    problem = urls.host_problem(host, bracketed=parts.netloc.startswith("["), allow_localhost=loopback_dev)
    if problem:
        raise TargetRefused(problem)
    default = 443 if parts.scheme == "https" else 80
    literal = _literal(host)
    if literal is not None:
        reason = forbidden(literal, allow_loopback=local)
        if reason:
            raise TargetRefused(f"the address is {reason}")
    path = parts.path or "/"
    return Target(
        scheme=parts.scheme, host=host, port=port or default, path=f"{path}?{parts.query}" if parts.query else path
    )


class ResolveTimeout(Exception):
    """The name did not resolve within the time given (a slow authoritative server must not hold a worker)."""


def _resolve_within(host: str, port: int, timeout_s: float | None) -> list[str]:
    if timeout_s is None:
        return resolve(host, port)
    # getaddrinfo takes no timeout: it runs in a daemon thread that is abandoned (never joined) when too slow.
    outcome: list[list[str] | BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(resolve(host, port))
        except BaseException as error:
            outcome.append(error)
        done.set()

    threading.Thread(target=run, name="webhook-resolve", daemon=True).start()
    if not done.wait(timeout_s):
        raise ResolveTimeout(host)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def check_addresses(target: Target, *, local: bool, timeout_s: float | None = None) -> str:
    """Resolve the host once (within `timeout_s` when given: else ResolveTimeout); every address must be allowed;
    returns the one to connect to."""
    literal = _literal(target.host)
    if literal is not None:
        return str(literal)
    try:
        addresses = _resolve_within(target.host, target.port, timeout_s)
    except UnicodeError:
        # The IDNA codec refuses the name before any lookup (a label over 63 characters, an empty label).
        raise TargetRefused("the host is not a valid domain name") from None
    except OSError as error:
        raise TargetRefused(f"the host does not resolve ({type(error).__name__})") from None
    if not addresses:
        raise TargetRefused("the host does not resolve")
    for address in addresses:
        reason = forbidden(ipaddress.ip_address(address), allow_loopback=local)
        if reason:
            # One bad address refuses the whole name: otherwise a rebinding name could alternate its answers.
            raise TargetRefused(f"the host resolves to a {reason} address")
    return addresses[0]


def _tls_context() -> ssl.SSLContext:
    # Verification for the customer's hostname although the socket connected to the checked address.
    return ssl.create_default_context()


def post(url: str, body: bytes, headers: dict[str, str], *, local: bool, timeout_s: float = TIMEOUT_S) -> Answer:
    """POST `body` to `url` once, SSRF-safely, all within `timeout_s` (DNS, connect, TLS, request, headers, body);
    never raises for network trouble (the Answer says what happened).

    At most MAX_RESPONSE_BYTES of the answer are read, then the connection is dropped: a receiver can neither
    drip-feed nor flood a delivery past its deadline. TargetRefused is raised when the URL or its addresses are not
    allowed: nothing was sent.
    """
    started = time.monotonic()
    target = parse_target(url, local=local)

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        address = check_addresses(target, local=local, timeout_s=timeout_s)
    except ResolveTimeout:
        return Answer(status=None, error="timeout", duration_ms=elapsed_ms())
    left = timeout_s - (time.monotonic() - started)
    try:
        reply = _CLIENT.request(
            "POST",
            (target.scheme, address, target.port, target.host),
            target.path,
            host_header=target.host_header,
            headers=headers,
            body=body,
            timeout_s=max(0.001, left),
            max_body=MAX_RESPONSE_BYTES,
            excess="truncate",  # the answer is never kept or parsed: only its status counts
            context=_tls_context() if target.scheme == "https" else None,
        )
    except outbound.Failed as failed:
        return Answer(status=None, error=failed.kind, duration_ms=elapsed_ms())
    return Answer(status=reply.status, error=None, duration_ms=elapsed_ms())


_CLIENT = outbound.Client(keep_alive=False)  # one connection per delivery: a customer's server holds nothing of ours

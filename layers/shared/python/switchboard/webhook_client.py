"""The SSRF-safe webhook sender (R42): checked URL, one DNS lookup, pinned IP, TLS for the name, no redirects."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from switchboard import urls

MAX_RESPONSE_BYTES = 4096  # read a little of the answer (so the connection ends cleanly), then discard it
TIMEOUT_S = 5.0
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
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


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


def check_addresses(target: Target, *, local: bool) -> str:
    """Resolve the host once; every address must be allowed; returns the one to connect to."""
    literal = _literal(target.host)
    if literal is not None:
        return str(literal)
    try:
        addresses = resolve(target.host, target.port)
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


def _pool(target: Target, address: str, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        # Connect to the checked address, but do SNI and certificate verification for the customer's hostname.
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)


def post(url: str, body: bytes, headers: dict[str, str], *, local: bool, timeout_s: float = TIMEOUT_S) -> Answer:
    """POST `body` to `url` once, SSRF-safely; never raises for network trouble (the Answer says what happened).

    TargetRefused is raised when the URL or its addresses are not allowed: nothing was sent.
    """
    target = parse_target(url, local=local)
    address = check_addresses(target, local=local)
    started = time.monotonic()
    deadline = started + timeout_s
    pool = _pool(target, address, urllib3.Timeout(total=timeout_s))

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            received = 0
            for chunk in response.stream(1024):
                received += len(chunk)
                if received >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
        finally:
            # Whatever is left unread is discarded with the connection: never kept, never parsed.
            response.close()
        return Answer(status=response.status, error=None, duration_ms=elapsed_ms())
    except urllib3.exceptions.HTTPError as error:
        kind = "timeout" if isinstance(error, urllib3.exceptions.TimeoutError) else type(error).__name__
        return Answer(status=None, error=kind, duration_ms=elapsed_ms())
    finally:
        pool.close()

"""Fetching a file a carrier keeps for us (inbound media): exact host allowlist, SSRF checks, a size bound.

Every URL, the first and each redirect's, must be https on 443 to a host of the carrier's allowlist (under its path
prefix); the name is resolved once and every address it resolves to must be public (urls.address_problem: private,
loopback, link-local, multicast, reserved, IPv4-mapped, NAT64, 6to4 refused); the connection is pinned to the checked
address with TLS verified for the name. Plain HTTP and loopback only where `loopback` is set: the local stack's
sandbox media host, and the tests' fake carriers. The body is read to at most `max_bytes` (never more than one byte
past it is buffered): a larger file is refused `too_large`, not retried.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from switchboard import outbound, urls, webhook_client
from switchboard.carriers.base import CarrierTimeout, CarrierUnavailable

MAX_REDIRECTS = 3
TIMEOUT_S = 20.0  # a worker's fetch of up to 16 MiB, DNS to last byte; the queue's visibility timeout is 120 s
# Statuses that say "try later": the carrier's trouble or throttling, or our credentials mid-rotation.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 425, 429})
# Why a file is not kept for good (the media entry's `reason`).
REASONS = frozenset({"too_large", "unsupported_type", "storage_full", "not_found", "not_allowed", "unavailable"})


class MediaRefused(Exception):
    """The file can never be fetched as asked (gone, too large, a host we do not fetch from): not retried."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Host:
    """An allowed host, exactly (no subdomains), and the path prefix its URLs must have there."""

    name: str
    path_prefix: str = "/"


def check_url(url: str, allowed: Iterable[Host], *, loopback: bool) -> webhook_client.Target:
    """The checked target of `url`, or MediaRefused("not_allowed") saying why it is not fetched."""
    if urls.has_unsafe_characters(url):
        raise MediaRefused("not_allowed", "control characters, spaces or invisible characters in the URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise MediaRefused("not_allowed", f"not a valid URL ({error})") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise MediaRefused("not_allowed", "no host, or credentials in the URL")
    local = loopback and urls.is_loopback(host)
    if not local and (parts.scheme != "https" or port not in (None, 443)):
        raise MediaRefused("not_allowed", "only https on port 443")
    if local and parts.scheme not in ("http", "https"):
        raise MediaRefused("not_allowed", "only http(s)")
    # The host must be a DNS name or a dotted-quad / bracketed IPv6 literal: `2130706433`, `0x7f.1`, `017700000001`
    # and other inet_aton spellings are refused before anything could resolve them.
    problem = urls.host_problem(host, bracketed=parts.netloc.startswith("["), allow_localhost=local)
    if problem:
        raise MediaRefused("not_allowed", problem)
    try:
        literal: urls.IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and (reason := urls.address_problem(literal, allow_loopback=loopback)):
        raise MediaRefused("not_allowed", f"the address is {reason}")
    path = parts.path or "/"
    if not any(host == entry.name and path.startswith(entry.path_prefix) for entry in allowed):
        raise MediaRefused("not_allowed", f"{host} is not one of the carrier's media hosts")
    default = 443 if parts.scheme == "https" else 80
    return webhook_client.Target(
        scheme=parts.scheme, host=host, port=port or default, path=f"{path}?{parts.query}" if parts.query else path
    )


def _address(target: webhook_client.Target, *, loopback: bool, timeout_s: float) -> str:
    try:
        return webhook_client.check_addresses(target, local=loopback, timeout_s=timeout_s)
    except webhook_client.ResolveTimeout:
        raise CarrierTimeout(f"{target.host} did not resolve in time") from None
    except webhook_client.TargetRefused as refused:
        # One private address refuses the name (a rebinding name cannot alternate its way in).
        raise MediaRefused("not_allowed", str(refused)) from None


def fetch(
    carrier: str,
    url: str,
    *,
    headers: Mapping[str, str],
    allowed: Iterable[Host],
    loopback: bool,
    max_bytes: int,
    timeout_s: float = TIMEOUT_S,
    redirect_hosts: Iterable[Host] | None = None,
) -> bytes:
    """GET `url` and follow at most MAX_REDIRECTS redirects, each to an allowed host (`redirect_hosts`, by default
    `allowed`); `headers` (credentials) go to the first URL's host only. MediaRefused for what is never fetched,
    CarrierTimeout / CarrierUnavailable for what may work later (the job comes back)."""
    deadline = time.monotonic() + timeout_s
    first_allowed, later_allowed = tuple(allowed), tuple(redirect_hosts if redirect_hosts is not None else allowed)
    first_host = ""
    for hop in range(MAX_REDIRECTS + 1):
        target = check_url(url, first_allowed if hop == 0 else later_allowed, loopback=loopback)
        first_host = first_host or target.host
        left = deadline - time.monotonic()
        address = _address(target, loopback=loopback, timeout_s=max(0.001, left))
        sent = dict(headers) if target.host == first_host else {}
        try:
            reply = _CLIENT.request(
                "GET",
                (target.scheme, address, target.port, target.host),
                target.path,
                host_header=target.host_header,
                headers=sent,
                body=None,
                timeout_s=max(0.001, deadline - time.monotonic()),
                max_body=max_bytes,
                excess="refuse",
                context=ssl.create_default_context() if target.scheme == "https" else None,
            )
        except outbound.Failed as failed:
            if failed.kind == "too_large":
                raise MediaRefused("too_large", f"more than {max_bytes} bytes") from None
            if failed.timed_out:
                raise CarrierTimeout(f"{carrier} media did not arrive within {timeout_s}s") from None
            raise CarrierUnavailable(f"{carrier} media host unreachable ({failed.kind})") from None
        if reply.status in (301, 302, 303, 307, 308) and reply.location:
            url = urljoin(url, reply.location)
            continue
        return _body(carrier, reply)
    raise MediaRefused("not_allowed", f"more than {MAX_REDIRECTS} redirects")


def _body(carrier: str, reply: outbound.Reply) -> bytes:
    if 200 <= reply.status < 300:
        return reply.body
    if reply.status in (404, 410):
        raise MediaRefused("not_found", f"{carrier} answered HTTP {reply.status}")
    if 400 <= reply.status < 500 and reply.status not in TRANSIENT_STATUSES:
        raise MediaRefused("not_allowed", f"{carrier} answered HTTP {reply.status}")
    raise CarrierUnavailable(f"{carrier} answered HTTP {reply.status} for a media file")


_CLIENT = outbound.Client(keep_alive=False)

"""R47 drift check: Cloudflare's published IP ranges against the list the API's resource policy admits.

The deployed list is `switchboard/cloudflare_ips.json`, the same file CDK builds the resource policy from (shipped in
the shared layer). A difference either way matters: a published range we lack is Cloudflare traffic our API refuses,
a range we still admit that Cloudflare no longer publishes is an address anyone may come to hold.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from switchboard import outbound, settings
from switchboard.observability import logger
from switchboard.urls import is_loopback

DEPLOYED_FILE = Path(__file__).resolve().parent.parent / "cloudflare_ips.json"
CONNECT_TIMEOUT_S = 3.0
TOTAL_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024  # the published answer is about 1 KB
# Metric names; infra/constructs/edge.py alarms on the same names (tests/unit/test_edge_drift.py proves it).
DRIFT_METRIC = "CloudflareRangesDrift"
CHECK_FAILED_METRIC = "CloudflareRangesCheckFailed"

Fetch = Callable[[str], bytes]


class CheckFailed(Exception):
    """The published ranges could not be fetched or read (timeout, HTTP error, not the expected document)."""


@dataclass(frozen=True)
class DriftReport:
    """One check: what Cloudflare publishes that we lack (`missing`), what we admit that it no longer publishes
    (`extra`), or why the check failed (`error`, then nothing was compared)."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def checked(self) -> bool:
        """True when the published list was read and compared."""
        return not self.error

    @property
    def differences(self) -> int:
        """How many ranges differ (0 when the lists agree or the check failed)."""
        return len(self.missing) + len(self.extra)

    def as_dict(self) -> dict[str, Any]:
        """The job's report (what `POST /_local/jobs/edge_drift` answers)."""
        return {
            "checked": self.checked,
            "drift": self.differences > 0,
            "missing": self.missing,
            "extra": self.extra,
            "error": self.error,
        }


def _networks(values: Iterable[Any], version: int) -> set[str]:
    found = set()
    for value in values:
        if not isinstance(value, str):
            raise CheckFailed(f"a range is not a string: {value!r:.40}")
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise CheckFailed(f"not a CIDR range: {value!r:.60}") from None
        if network.version != version:
            raise CheckFailed(f"{value} is not an IPv{version} range")
        found.add(str(network))  # canonical text, so 2400:CB00::/32 and 2400:cb00::/32 compare equal
    if not found:
        raise CheckFailed(f"no IPv{version} range")
    return found


def deployed_ranges(path: Path = DEPLOYED_FILE) -> set[str]:
    """The ranges the deployed resource policy admits."""
    data = json.loads(path.read_text())
    return _networks(data["ipv4"], 4) | _networks(data["ipv6"], 6)


def parse_published(body: bytes) -> set[str]:
    """The ranges in Cloudflare's `GET /client/v4/ips` answer; CheckFailed for anything else."""
    try:
        document = json.loads(body)
    except ValueError:
        raise CheckFailed("the answer is not JSON") from None
    result = document.get("result") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("success") is not True or not isinstance(result, dict):
        raise CheckFailed("the answer is not a successful Cloudflare API result")
    ipv4, ipv6 = result.get("ipv4_cidrs"), result.get("ipv6_cidrs")
    if not isinstance(ipv4, list) or not isinstance(ipv6, list):
        raise CheckFailed("the answer lacks ipv4_cidrs or ipv6_cidrs")
    return _networks(ipv4, 4) | _networks(ipv6, 6)


def fetch(url: str) -> bytes:
    """GET `url` over HTTPS (plain HTTP only to loopback: the local stack's and tests' fakes), no redirects, TLS
    verified, bounded in time (one total deadline) and size; CheckFailed on any failure."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        raise CheckFailed(f"refusing a non-HTTPS URL for the published ranges: {parts.scheme}://{parts.hostname}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    try:
        reply = outbound.Client().request(
            "GET",
            (parts.scheme, host, port, host),
            path,
            host_header=outbound.host_header(host, port, parts.scheme),
            headers={"Accept": "application/json"},
            body=b"",
            timeout_s=TOTAL_TIMEOUT_S,
            connect_timeout_s=CONNECT_TIMEOUT_S,
            max_body=MAX_RESPONSE_BYTES,
        )
    except outbound.Failed as failed:
        if failed.timed_out:
            raise CheckFailed(f"the published ranges could not be fetched within {TOTAL_TIMEOUT_S}s") from None
        if failed.kind == "too_large":
            raise CheckFailed(f"the published ranges exceed {MAX_RESPONSE_BYTES} bytes") from None
        raise CheckFailed(f"the published ranges could not be fetched ({failed.kind})") from None
    if reply.status != 200:
        raise CheckFailed(f"the published ranges answered HTTP {reply.status}")
    return reply.body


def check(*, url: str | None = None, fetcher: Fetch = fetch, deployed: set[str] | None = None) -> DriftReport:
    """Compare the published ranges with the deployed ones; a failure is reported (and alarmed), never raised."""
    source = url or settings.get().cloudflare_ips_url
    ours = deployed_ranges() if deployed is None else deployed
    try:
        published = parse_published(fetcher(source))
    except CheckFailed as error:
        logger.error("cloudflare ranges check failed", extra={"url": source, "error": str(error)})
        return DriftReport(error=str(error))
    report = DriftReport(missing=sorted(published - ours), extra=sorted(ours - published))
    if report.differences:
        logger.error(
            "cloudflare ranges drifted from the deployed list",
            extra={"missing": report.missing, "extra": report.extra, "url": source},
        )
    else:
        logger.info("cloudflare ranges match the deployed list", extra={"ranges": len(ours)})
    return report

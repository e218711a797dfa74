"""R47 drift check: Cloudflare's published IP ranges against the list the API's resource policy admits.

The deployed list is `switchboard/cloudflare_ips.json`, the same file CDK builds the resource policy from (shipped in
the shared layer). A difference either way matters: a published range we lack is Cloudflare traffic our API refuses,
a range we still admit that Cloudflare no longer publishes is an address anyone may come to hold.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from switchboard import settings
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
    verified, bounded in time and size; CheckFailed on any failure."""
    import urllib3  # noqa: PLC0415 - only this job needs it; other cold starts skip it
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        raise CheckFailed(f"refusing a non-HTTPS URL for the published ranges: {parts.scheme}://{parts.hostname}")
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=TOTAL_TIMEOUT_S, total=TOTAL_TIMEOUT_S)
    pool = urllib3.PoolManager(timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED")
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    try:
        response = pool.request(
            "GET", url, preload_content=False, redirect=False, headers={"Accept": "application/json"}
        )
        try:
            if response.status != 200:
                raise CheckFailed(f"the published ranges answered HTTP {response.status}")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(8192):
                # The read timeout bounds each recv; a server dripping bytes is cut off by the total deadline.
                if time.monotonic() > deadline:
                    raise CheckFailed(f"the published ranges took longer than {TOTAL_TIMEOUT_S}s")
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise CheckFailed(f"the published ranges exceed {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            response.release_conn()
    except HTTPError as error:
        raise CheckFailed(f"the published ranges could not be fetched ({type(error).__name__})") from error
    finally:
        pool.clear()


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

"""The one HTTP client of the carrier adapters: urllib3, short timeouts, no retries, no redirects, TLS verified."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from switchboard.carriers.base import CarrierError, CarrierRejected, CarrierTimeout, CarrierUnavailable
from switchboard.observability import logger
from switchboard.urls import is_loopback

# R63: failover must finish within 2 s, so one carrier gets at most 300 ms to accept the connection and 1 s in all.
CONNECT_TIMEOUT_S = 0.3
TOTAL_TIMEOUT_S = 1.0
# Carrier answers are small JSON documents; anything larger is not an answer we can use.
MAX_RESPONSE_BYTES = 64 * 1024
# The statuses that mean "this message is invalid", unless a carrier's own rule says otherwise (see `check`).
REJECTION_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Response:
    """A carrier's HTTP answer, read in full."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or {} when it is not JSON (carriers' error pages are often HTML)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


class HttpClient:
    """Calls carriers; every failure to get an answer becomes a CarrierTimeout or CarrierUnavailable."""

    def __init__(
        self, *, connect_timeout_s: float = CONNECT_TIMEOUT_S, total_timeout_s: float = TOTAL_TIMEOUT_S
    ) -> None:
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=total_timeout_s, total=total_timeout_s)
        self.total_timeout_s = total_timeout_s
        # retries=False: no retry and no redirect is followed (a 3xx comes back as an answer and is refused);
        # the router fails over instead, which keeps the 2 s budget and never double-submits on its own.
        self._pool = urllib3.PoolManager(
            timeout=self.timeout, retries=False, cert_reqs="CERT_REQUIRED", maxsize=4, block=False
        )

    def post(self, carrier: str, url: str, *, headers: Mapping[str, str], body: bytes) -> Response:
        """POST `body` to `url` and read the answer within the total timeout."""
        return self._request("POST", carrier, url, headers=headers, body=body)

    def get(self, carrier: str, url: str, *, headers: Mapping[str, str]) -> Response:
        """GET `url` (a carrier's status API) and read the answer within the total timeout."""
        return self._request("GET", carrier, url, headers=headers, body=None)

    def _request(
        self, method: str, carrier: str, url: str, *, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
            # Plain HTTP only to loopback (the tests' fake carriers): credentials never travel unencrypted.
            raise CarrierUnavailable(f"{carrier}: refusing a non-HTTPS carrier URL")
        started = time.monotonic()
        try:
            raw = self._pool.request(
                method, url, body=body, headers=dict(headers), preload_content=False, redirect=False
            )
            try:
                data = self._read(carrier, raw, deadline=started + self.total_timeout_s)
            finally:
                raw.release_conn()
        except MaxRetryError as error:  # not raised with retries=False, but urllib3 may wrap; unwrap to classify
            raise _transport_error(carrier, error.reason or error) from error
        except HTTPError as error:
            raise _transport_error(carrier, error) from error
        return Response(status=raw.status, body=data)

    def _read(self, carrier: str, raw: urllib3.BaseHTTPResponse, *, deadline: float) -> bytes:
        # urllib3's read timeout bounds each recv, not the whole body: a carrier dripping bytes would never time
        # out, so the total is enforced here as well.
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise CarrierTimeout(f"{carrier} did not answer within {self.total_timeout_s}s")
            chunk = raw.read(8192)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise CarrierUnavailable(f"{carrier} answered more than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)


def _transport_error(carrier: str, error: BaseException) -> CarrierError:
    # NewConnectionError subclasses ConnectTimeoutError for history's sake, but it is a refusal: answered at once.
    if isinstance(error, Urllib3Timeout) and not isinstance(error, NewConnectionError):
        return CarrierTimeout(f"{carrier} did not answer in time ({type(error).__name__})")
    return CarrierUnavailable(f"{carrier} is unreachable ({type(error).__name__})")


def check(
    carrier: str,
    response: Response,
    *,
    error_code: Callable[[Any], str],
    is_rejection: Callable[[int, str], bool] | None = None,
) -> Any:
    """The JSON of a 2xx answer; otherwise the CarrierError the status (and the carrier's error code) means.

    - 5xx, 3xx (redirects are never followed), 401/403 (our credentials), 404 (our account path), 429 (throttled)
      and any other 4xx → CarrierUnavailable: another carrier may take the message.
    - 400/413/422 → CarrierRejected (the message itself is invalid), unless the carrier's `is_rejection(status,
      code)` says otherwise (e.g. Meta answers 400 for an expired token too).
    """
    if 200 <= response.status < 300:
        return response.json()
    code = error_code(response.json())
    # The code and status only: a carrier's error text may quote the recipient or the body.
    logger.warning("carrier refused a request", extra={"carrier": carrier, "status": response.status, "code": code})
    rejected = (
        is_rejection(response.status, code) if is_rejection is not None else response.status in REJECTION_STATUSES
    )
    if rejected:
        raise CarrierRejected(f"{carrier} rejected the message (HTTP {response.status}, code {code or '-'})", code=code)
    raise CarrierUnavailable(f"{carrier} answered HTTP {response.status} (code {code or '-'})")

"""The one HTTP client of the carrier adapters: a total deadline, no retries, no redirects, TLS verified."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from switchboard import outbound
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
        self.connect_timeout_s = connect_timeout_s
        self.total_timeout_s = total_timeout_s
        # Connections to a carrier are kept for the next send (TLS set-up is most of a send's time); nothing is
        # retried and no redirect is followed (a 3xx comes back as an answer and is refused): the router fails over
        # instead, which keeps the 2 s budget and never double-submits on its own.
        self._client = outbound.Client(keep_alive=True)

    def post(self, carrier: str, url: str, *, headers: Mapping[str, str], body: bytes) -> Response:
        """POST `body` to `url` and read the answer within the total timeout."""
        return self._request("POST", carrier, url, headers=headers, body=body)

    def get(self, carrier: str, url: str, *, headers: Mapping[str, str]) -> Response:
        """GET `url` (a carrier's status API) and read the answer within the total timeout."""
        return self._request("GET", carrier, url, headers=headers, body=None)

    def fetch(
        self, carrier: str, url: str, *, headers: Mapping[str, str], max_bytes: int, timeout_s: float
    ) -> Response:
        """GET a file the carrier keeps (a call recording): up to `max_bytes`, within `timeout_s` (a worker's
        budget, not a send's); a larger body is refused (CarrierUnavailable), never read past the bound."""
        return self._request("GET", carrier, url, headers=headers, body=None, max_body=max_bytes, timeout_s=timeout_s)

    def delete(self, carrier: str, url: str, *, headers: Mapping[str, str]) -> Response:
        """DELETE a carrier resource (a recording) and read the answer within the total timeout."""
        return self._request("DELETE", carrier, url, headers=headers, body=None)

    def _request(
        self,
        method: str,
        carrier: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        max_body: int = MAX_RESPONSE_BYTES,
        timeout_s: float | None = None,
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
            # Plain HTTP only to loopback (the tests' fake carriers): credentials never travel unencrypted.
            raise CarrierUnavailable(f"{carrier}: refusing a non-HTTPS carrier URL")
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        try:
            reply = self._client.request(
                method,
                (parts.scheme, host, port, host),
                path,
                host_header=outbound.host_header(host, port, parts.scheme),
                headers=headers,
                body=body,
                timeout_s=timeout_s or self.total_timeout_s,
                connect_timeout_s=self.connect_timeout_s,
                max_body=max_body,
                excess="refuse",
            )
        except outbound.Failed as failed:
            raise _transport_error(carrier, failed) from None
        return Response(status=reply.status, body=reply.body)


def _transport_error(carrier: str, failed: outbound.Failed) -> CarrierError:
    # A refused connection is answered at once: another carrier may take the message now.
    if failed.timed_out:
        return CarrierTimeout(f"{carrier} did not answer within the deadline ({failed.kind})")
    if failed.kind == "too_large":
        return CarrierUnavailable(f"{carrier} answered more than {MAX_RESPONSE_BYTES} bytes")
    return CarrierUnavailable(f"{carrier} is unreachable ({failed.kind})")


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

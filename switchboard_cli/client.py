"""The public API's HTTP client: bearer API key in a header (never in a URL), JSON in, JSON or problem+json out."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

DEFAULT_API_URL = "http://127.0.0.1:8080"  # make dev's stack
TIMEOUT_S = 30
USER_AGENT = "switchboard-cli/0.1"
# A refusal with Retry-After processed nothing (API.md): waiting and asking again is safe. Past this many waits the
# answer is shown as it is.
RETRIES = 8
MAX_WAIT_S = 30.0


class UsageError(Exception):
    """The command cannot run as given (no key, a bad URL, a bad file): told, exit 2."""


class Unreachable(Exception):
    """The API did not answer (not running, wrong URL, network down, timeout): told, exit 1."""


class Problem(Exception):
    """The API refused: an RFC 9457 problem document (or what stood in for one)."""

    def __init__(self, status: int, document: dict[str, Any], retry_after: str | None = None) -> None:
        self.status = status
        self.document = document
        self.retry_after = retry_after
        self.code = str(document.get("code") or "")
        self.title = str(document.get("title") or f"HTTP {status}")
        self.detail = str(document.get("detail") or document.get("message") or "")
        super().__init__(f"{self.title}: {self.detail}")

    @property
    def pointers(self) -> list[tuple[str, str]]:
        """(pointer, message) of each invalid field the problem names."""
        errors = self.document.get("errors")
        if not isinstance(errors, list):
            return []
        return [(str(e.get("pointer", "")), str(e.get("message", ""))) for e in errors if isinstance(e, dict)]


@dataclass(frozen=True)
class Answer:
    """A successful answer: status, headers (lower-case names) and the decoded JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def replayed(self) -> bool:
        """True when the API replayed the first answer for this Idempotency-Key (nothing was created again)."""
        return self.headers.get("idempotency-replay", "").lower() == "true"


def checked_url(url: str) -> str:
    """The API base URL, refused unless plain http(s) with no credentials, query or fragment in it."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"the API URL must be an http(s) URL, not {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("the API URL must not carry credentials, a query or a fragment")
    return url.rstrip("/")


@dataclass
class Client:
    """Sends requests to one API with one key; waits out rate limits as the API tells it to."""

    api_url: str
    api_key: str = field(repr=False)
    sleep: Callable[[float], None] = time.sleep
    waited: int = 0  # how many times a rate limit or an in-flight twin made it wait (shown by --verbose)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """The answer, or raise Problem (the API refused) / Unreachable (no answer)."""
        shown = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.api_url + path + (f"?{urlencode(shown)}" if shown else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {
            "Accept": "application/json, application/problem+json",
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        for attempt in range(RETRIES + 1):
            try:
                return self._send(url, method, data, headers)
            except Problem as refused:
                wait = _retry_after(refused)
                if wait is None or attempt == RETRIES:
                    raise
                self.waited += 1
                self.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _send(self, url: str, method: str, data: bytes | None, headers: dict[str, str]) -> Answer:
        # checked_url made the base an http(s) URL: no file: or custom scheme reaches urllib.
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                raw = response.read()
                answered = {k.lower(): v for k, v in response.headers.items()}
                body = _json(raw) if raw else None
        except urllib.error.HTTPError as error:
            document = _problem_document(error.read(), error.code)
            raise Problem(error.code, document, error.headers.get("Retry-After")) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", None) or error
            raise Unreachable(f"cannot reach {self.api_url}: {reason}") from None
        if isinstance(body, str):  # a 2xx that is not JSON: a web page or a proxy, not this API
            raise Unreachable(f"{self.api_url} answered with something that is not JSON: is it the Switchboard API?")
        return Answer(response.status, answered, body)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _problem_document(raw: bytes, status: int) -> dict[str, Any]:
    document = _json(raw) if raw else None
    if isinstance(document, dict):
        return document
    return {"status": status, "title": f"HTTP {status}", "detail": str(document or "")[:300]}


def _retry_after(refused: Problem) -> float | None:
    """Seconds to wait before asking again when the refusal says so and nothing was processed, else None: 429 (rate
    limited), 409 (this Idempotency-Key still in flight) and 503 (a dependency's moment), each with Retry-After."""
    if refused.status not in {409, 429, 503} or (refused.retry_after is None and refused.status != 429):
        return None
    try:
        seconds = float(refused.retry_after or 1)
    except ValueError:
        seconds = 1.0  # an HTTP-date: the API sends seconds; a second is a safe guess
    return min(max(seconds, 0.05), MAX_WAIT_S)

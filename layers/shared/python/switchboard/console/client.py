"""The public API, as the console calls it: over HTTP, with the signed-in person's own session token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from switchboard import settings
from switchboard.crypto import client_ip as client_ip_header
from switchboard.observability import logger

TIMEOUT_S = 25.0  # below API Gateway's 29 s, so a slow API is our 503 page, not the gateway's 504
USER_AGENT_CHARS = 512


@dataclass(frozen=True)
class ApiAnswer:
    """A 2xx answer: status, parsed JSON body (None when empty) and headers (lower-case names)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Any:
        """The body's `data` list of a paginated answer, else the body."""
        return self.body.get("data", []) if isinstance(self.body, dict) else self.body


class ApiProblem(Exception):
    """A problem+json answer: what the page shows, beside the fields its pointers name."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = str(body.get("code") or "")
        self.title = str(body.get("title") or "")
        self.detail = str(body.get("detail") or body.get("title") or "The request failed.")
        self.body = body
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}: {self.detail}")

    @property
    def field_errors(self) -> dict[str, str]:
        """Each error's message by form field: the pointer `/evidence/ip` names the field `evidence.ip`."""
        errors: dict[str, str] = {}
        for error in self.body.get("errors") or []:
            if isinstance(error, dict):
                name = ".".join(part for part in str(error.get("pointer") or "").split("/") if part)
                errors.setdefault(name or "_", str(error.get("message") or self.detail))
        return errors


class ApiUnavailable(Exception):
    """The API did not answer (network, timeout, a non-JSON 5xx): the page says so, nothing is assumed done."""


@dataclass
class ApiClient:
    """Calls `PUBLIC_BASE_URL` as the browser's user: the session token (if any) is the only authority it has."""

    token: str | None = None
    user_agent: str = ""
    base_url: str = ""
    client_ip: str = ""  # the browser's address, vouched for to the API (switchboard.crypto.client_ip)

    def __post_init__(self) -> None:
        if not self.base_url:
            self.base_url = settings.get().public_base_url.rstrip("/")

    def get(self, path: str, **query: Any) -> ApiAnswer:
        """GET `path` with the query parameters that are not None."""
        wanted = {k: v for k, v in query.items() if v not in (None, "")}
        return self.call("GET", f"{path}?{urlencode(wanted)}" if wanted else path)

    def post(self, path: str, body: dict[str, Any] | None = None, *, idempotency_key: str = "") -> ApiAnswer:
        """POST a JSON body (an Idempotency-Key makes a resubmitted form a replay, not a second action)."""
        return self.call("POST", path, body if body is not None else {}, idempotency_key=idempotency_key)

    def patch(self, path: str, body: dict[str, Any]) -> ApiAnswer:
        """PATCH a JSON body."""
        return self.call("PATCH", path, body)

    def delete(self, path: str, body: dict[str, Any] | None = None) -> ApiAnswer:
        """DELETE, with a JSON body where the API asks for one (password confirmations)."""
        return self.call("DELETE", path, body)

    def call(self, method: str, path: str, body: Any = None, *, idempotency_key: str = "") -> ApiAnswer:
        """One request; ApiProblem for a problem answer, ApiUnavailable when there is no usable answer."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if agent := _printable(self.user_agent)[:USER_AGENT_CHARS]:
            headers["User-Agent"] = agent  # the person's browser, for their sessions list and new-device notices
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        status, raw, answer_headers = self._send(method, path, headers, data)
        return ApiAnswer(status, _json(raw), answer_headers)

    def download(self, path: str, accept: str = "application/json") -> tuple[bytes, dict[str, str]]:
        """A non-JSON answer (an export, a file), as bytes and headers."""
        headers = {"Accept": accept, "Authorization": f"Bearer {self.token}"} if self.token else {"Accept": accept}
        _status, raw, answer_headers = self._send("GET", path, headers, None)
        return raw, answer_headers

    def _send(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One HTTP exchange: a 2xx answer's status, bytes and headers; ApiProblem for a problem answer,
        ApiUnavailable when there is no usable answer."""
        if vouching := self._vouching(method, path):
            headers = {**headers, "Switchboard-Console-Client": vouching}
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)  # noqa: S310 - our own API's origin
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return response.status, response.read(), _lower(response.headers.items())
        except urllib.error.HTTPError as error:
            parsed = _json(error.read())
            if isinstance(parsed, dict) and (parsed.get("code") or parsed.get("title")):
                raise ApiProblem(error.code, parsed, _lower(error.headers.items())) from None
            raise ApiUnavailable(f"{method} {path}: {error.code} without a problem body") from None
        except (OSError, ValueError) as error:
            raise ApiUnavailable(f"{method} {path}: {error}") from None

    def _vouching(self, method: str, path: str) -> str:
        """The header that tells the API the browser's address (empty: the API counts the console's own)."""
        if not self.client_ip or not client_ip_header.held():
            return ""
        try:
            return client_ip_header.vouch(self.client_ip, method, path.split("?", 1)[0])
        except client_ip_header.Refused as refused:
            logger.warning("console: no client address to vouch for", extra={"reason": str(refused)})
        except Exception:  # the key could not be read: the page still works, throttled by the console's address
            logger.exception("console: client address not vouched")
        return ""


def segment(value: str) -> str:
    """One path segment from a form or URL value: nothing in it can reach another route (`/`, `..`, `?`)."""
    return quote(value, safe="")


def _printable(value: str) -> str:
    # A header value goes out as Latin-1 text: a browser's User-Agent outside printable ASCII is dropped, not a 503.
    return "".join(c for c in value if " " <= c <= "~").strip()


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}

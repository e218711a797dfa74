"""The console's unit-test collaborators: proxy events as API Gateway sends them, and a recording stand-in for the
public API at the network boundary (urllib), so no socket is opened."""

from __future__ import annotations

import io
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

import switchboard.console.pages  # noqa: F401 - registers every page
from switchboard.console import app, client, security

FORM = "application/x-www-form-urlencoded"
HOST = "console.test"


def event(
    method: str = "GET",
    path: str = "/console/login",
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    """A REST proxy event (the fields switchboard.console.web reads)."""
    return {
        "httpMethod": method,
        "path": path,
        "resource": "/console/{proxy+}",
        "headers": {"Host": HOST, **(headers or {})},
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": b64,
        "requestContext": {"requestId": "req-1", "identity": {"sourceIp": "203.0.113.9"}},
    }


def session_cookie(token: str | None = None, *, expires_in: int = 3600) -> tuple[str, str]:
    """A well-formed session cookie header value and its token."""
    token = token or "sbs_" + secrets.token_urlsafe(24)
    value = security.Session(token, int(time.time()) + expires_in, 1800).cookie_value()
    return f"{security.SESSION_COOKIE}={value}", token


def post(path: str, fields: dict[str, str], *, cookie: str = "", **headers: str) -> dict[str, Any]:
    """A form post from our own page (same-origin headers unless told otherwise)."""
    sent = {"Content-Type": FORM, "Sec-Fetch-Site": "same-origin", "Origin": f"https://{HOST}", **headers}
    if cookie:
        sent["Cookie"] = cookie
    return app.handle(event("POST", path, body=urlencode(fields), headers=sent))


def set_cookies(answer: dict[str, Any]) -> list[str]:
    return list((answer.get("multiValueHeaders") or {}).get("Set-Cookie", []))


@dataclass
class FakeApi:
    """The public API as urllib sees it: records each call, answers from `answers` by (method, path)."""

    calls: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)

    def urlopen(self, request: urllib.request.Request, timeout: float = 0) -> Any:
        parts = urlsplit(request.full_url)
        body = json.loads(request.data) if request.data else None
        headers = {k.lower(): v for k, v in request.header_items()}
        self.calls.append((request.get_method(), parts.path, headers, body))
        status, answer = self.answers.get((request.get_method(), parts.path), (404, _problem(404, "not_found")))
        raw = json.dumps(answer).encode() if answer is not None else b""
        message = Message()
        message["Content-Type"] = "application/json"
        if status >= 400:
            raise urllib.error.HTTPError(request.full_url, status, "", message, io.BytesIO(raw))
        return _Answer(status, raw, message)


def _problem(status: int, code: str, detail: str = "refused") -> dict[str, Any]:
    return {"status": status, "code": code, "title": code, "detail": detail}


class _Answer:
    def __init__(self, status: int, raw: bytes, headers: Message) -> None:
        self.status, self._raw, self.headers = status, raw, headers

    def read(self) -> bytes:
        return self._raw

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def install_fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    """The fake API in urllib's place for one test; it knows `GET /v1/me` (an owner) and sign-out."""
    fake = FakeApi()
    fake.answers[("GET", "/v1/me")] = (200, {"email": "owner@example.com", "role": "owner", "mfa_enabled": False})
    fake.answers[("DELETE", "/v1/sessions/current")] = (204, None)
    monkeypatch.setattr(client.urllib.request, "urlopen", fake.urlopen)
    return fake


def csrf_of(html: str) -> str:
    """The CSRF field's value in a rendered form."""
    marker = f'name="{security.CSRF_FIELD}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


__all__ = [
    "FORM",
    "HOST",
    "FakeApi",
    "app",
    "csrf_of",
    "event",
    "install_fake_api",
    "post",
    "session_cookie",
    "set_cookies",
]

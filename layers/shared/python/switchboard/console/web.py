"""The console's HTTP plumbing: a request read from an API Gateway proxy event, and an HTML answer with its headers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from switchboard.crypto import client_ip
from switchboard.headers import SECURITY_HEADERS
from switchboard.models.request import RequestMeta

MAX_BODY_BYTES = 64 * 1024  # forms only: the console never takes a file or a CSV
MAX_FIELDS = 200
MAX_VALUE_CHARS = 10_000
HTML = "text/html; charset=utf-8"

# No script at all, styles from our own stylesheet only (no inline style), forms post only to us, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
CONSOLE_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        **SECURITY_HEADERS,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
)


class BadRequest(Exception):
    """The request itself is malformed (body, encoding, cookies): 400, nothing done."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def _text(raw: str | bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        text.encode("utf-8")  # a lone surrogate from a %-escape or a JSON event fails here
    except UnicodeError as error:
        raise BadRequest(f"The {what} is not valid UTF-8.") from error
    if "\x00" in text:
        raise BadRequest(f"The {what} contains a NUL character.")
    return text


def _pairs(text: str, what: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeError) as error:
        raise BadRequest(f"The {what} is malformed.") from error
    values: dict[str, str] = {}
    for name, value in pairs:
        _text(name, what), _text(value, what)
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequest(f"A field of the {what} is too long.", status=413)
        values.setdefault(name, value)  # the first of repeated names, as the pages expect one value each
    return values


def _mapping(value: Any) -> Mapping[str, Any]:
    # API Gateway sends a mapping or null; anything else is read as nothing rather than trusted.
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Request:
    """What a page reads: method, path, query and form fields, cookies and headers (lower-case names)."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""
    client_ip: str = ""  # the browser's address as the edge saw it (RequestMeta), which the API is told

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        """Read an API Gateway proxy event; BadRequest for a body, query or cookie no form could have sent."""
        headers = {str(k).lower(): str(v) for k, v in _mapping(event.get("headers")).items() if v is not None}
        query = {
            _text(str(k), "query"): _text(str(v), "query")
            for k, v in _mapping(event.get("queryStringParameters")).items()
            if v is not None
        }
        form: dict[str, str] = {}
        body = event.get("body")
        if body:
            if not isinstance(body, str):
                raise BadRequest("The body is not text.")
            raw: bytes | str = body
            if event.get("isBase64Encoded"):
                try:
                    raw = base64.b64decode(str(body), validate=True)
                except (binascii.Error, ValueError) as error:
                    raise BadRequest("The body is not valid base64.") from error
            if len(raw) > MAX_BODY_BYTES:
                raise BadRequest("The form is too large.", status=413)
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/x-www-form-urlencoded":
                raise BadRequest("The console takes HTML forms only (application/x-www-form-urlencoded).", 415)
            form = _pairs(_text(raw, "form"), "form")
        cookies: dict[str, str] = {}
        if raw_cookie := headers.get("cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(raw_cookie)
            except CookieError:
                jar = SimpleCookie()  # a malformed Cookie header is as good as none
            cookies = {name: morsel.value for name, morsel in jar.items()}
        context = _mapping(event.get("requestContext"))
        return cls(
            method=str(event.get("httpMethod") or "GET").upper(),
            path=_text(str(event.get("path") or "/"), "path"),
            query=query,
            form=form,
            cookies=cookies,
            headers=headers,
            request_id=str(context.get("requestId") or ""),
            client_ip=_client_ip(event),
        )


@dataclass
class Response:
    """One answer: an HTML page, a stylesheet or a redirect, with the console's security headers."""

    status: int = 200
    body: str = ""
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values

    def to_proxy(self, request_id: str = "") -> dict[str, Any]:
        """The Lambda proxy result (Set-Cookie as multiValueHeaders: one header per cookie)."""
        headers = {**CONSOLE_HEADERS, "Content-Type": self.content_type, **self.headers}
        if request_id:
            headers["X-Request-Id"] = request_id
        result: dict[str, Any] = {"statusCode": self.status, "headers": headers, "body": self.body}
        if self.cookies:
            result["multiValueHeaders"] = {"Set-Cookie": list(self.cookies)}
        return result


def redirect(location: str, *, status: int = 303) -> Response:
    """See other: after a form, the browser GETs `location` (a path of ours: never a URL from the request)."""
    if not location.startswith("/console") or location.startswith("//"):
        location = "/console"
    return Response(status=status, headers={"Location": location})


def cookie(name: str, value: str, *, max_age: int) -> str:
    """A `__Host-` cookie: Secure, HttpOnly, SameSite=Strict, Path=/, no Domain (R21)."""
    return f"{name}={value}; Max-Age={max(max_age, 0)}; Path=/; Secure; HttpOnly; SameSite=Strict"


def expired(name: str) -> str:
    """The Set-Cookie that deletes `name`."""
    return cookie(name, "", max_age=0)


def _client_ip(event: Mapping[str, Any]) -> str:
    # The edge's address only: a browser's own vouching header means nothing to the console, which writes that one.
    headers = {k: v for k, v in _mapping(event.get("headers")).items() if str(k).lower() != client_ip.HEADER}
    identity = dict(_mapping(_mapping(event.get("requestContext")).get("identity")))
    return RequestMeta.from_event({"headers": headers, "requestContext": {"identity": identity}}).source_ip

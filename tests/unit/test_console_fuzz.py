"""Whatever reaches the console (any method, path, query, headers, cookies and body), it answers a page with the
security headers and never a 5xx, except 503 when the API cannot be reached (switchboard.console.app.handle)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from switchboard import settings as switchboard_settings
from switchboard.console import security
from switchboard.console.web import CONSOLE_HEADERS
from tests.unit.console_support import FORM, HOST, app, session_cookie

PAGES = [
    "/console",
    "/console/",
    "/console/login",
    "/console/logout",
    "/console/signup",
    "/console/verify-email",
    "/console/reauth",
    "/console/reset-password",
    "/console/reset-password/confirm",
    "/console/accept-invitation",
    "/console/static/console.css",
    "/console/messages",
]
BUDGET_S = 15.0

text = st.text(max_size=40)  # every code point, surrogates and NUL included
methods = st.one_of(st.sampled_from(["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]), text)
paths = st.one_of(
    st.sampled_from(PAGES),
    st.sampled_from(["/console/reauth", "/console/login", "/console/logout"]),
    st.builds(lambda page, tail: page + tail, st.sampled_from(PAGES), text),
    text.map(lambda tail: "/console/" + tail),
    text,
)
fields = st.dictionaries(st.one_of(st.sampled_from(["csrf", "email", "password", "next", "token", "code"]), text), text)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[Any, bool]:
    kind = draw(st.sampled_from(["none", "form", "raw", "base64", "garbage64"]))
    if kind == "none":
        return None, False
    if kind == "form":
        from urllib.parse import quote  # noqa: PLC0415

        pairs = draw(fields)
        return "&".join(
            f"{quote(k, errors='surrogatepass')}={quote(v, errors='surrogatepass')}" for k, v in pairs.items()
        ), False
    if kind == "raw":
        return draw(st.text(max_size=200)), False
    if kind == "base64":
        return base64.b64encode(draw(st.binary(max_size=200))).decode(), True
    return draw(st.text(max_size=60)), True


@st.composite
def cookies(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.integers(0, 3)):  # mostly signed in: those pages call the API
        parts.append(session_cookie()[0])
    if draw(st.booleans()):
        parts.append(f"{security.PRESESSION_COOKIE}={draw(st.sampled_from(['x' * 43, 'short', '']))}")
    if draw(st.booleans()):
        parts.append(draw(text))
    return "; ".join(parts)


headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.one_of(st.just(FORM), text),
        "Cookie": cookies(),
        "Origin": st.one_of(st.just(f"https://{HOST}"), text),
        "Sec-Fetch-Site": st.sampled_from(["same-origin", "cross-site", "none", "same-site", ""]),
        "User-Agent": text,
        "X-Console-Page": text,
    },
)
queries = st.one_of(st.none(), st.dictionaries(st.one_of(st.sampled_from(["next", "token", "notice"]), text), text))


@pytest.fixture(scope="module")
def unreachable_api() -> Iterator[None]:
    """PUBLIC_BASE_URL on a loopback port nothing listens on: every API call is refused at once (503)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        patch.setenv("STAGE", "local")
        switchboard_settings.reload()
        yield
    switchboard_settings.reload()


@pytest.mark.enable_socket
def test_the_console_never_fails_whatever_it_is_sent(unreachable_api: None) -> None:
    started = time.monotonic()
    seen: dict[int, int] = {}

    @seed(15)
    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(method=methods, path=paths, query=queries, sent=headers, body=bodies())
    @example("GET", "/console/reauth", None, {"Cookie": session_cookie()[0]}, (None, False))
    def one(method: str, path: str, query: Any, sent: dict[str, str], body: tuple[Any, bool]) -> None:
        if time.monotonic() - started > BUDGET_S:
            return  # bounded: the examples left are drawn but not run
        event = {
            "httpMethod": method,
            "path": path,
            "headers": {"Host": HOST, **sent},
            "queryStringParameters": query,
            "body": body[0],
            "isBase64Encoded": body[1],
            "requestContext": {"requestId": "req-fuzz"},
        }
        answer = app.handle(event)
        status = answer["statusCode"]
        seen[status] = seen.get(status, 0) + 1
        assert status < 500 or status == 503, (status, event)
        assert set(CONSOLE_HEADERS) <= set(answer["headers"])
        assert answer["headers"]["X-Frame-Options"] == "DENY"
        assert isinstance(answer["body"], str)
        if status in {301, 302, 303, 307, 308}:
            location = answer["headers"]["Location"]
            assert location.startswith("/console") and not location.startswith("//"), location
        for cookie in (answer.get("multiValueHeaders") or {}).get("Set-Cookie", []):
            assert cookie.startswith("__Host-") and "; Secure; HttpOnly; SameSite=Strict" in cookie

    one()
    print("console fuzz:", dict(sorted(seen.items())))
    # The run reached the pages (200), the refusals (4xx) and the unreachable API (503), not only one of them.
    assert seen.get(200) and seen.get(503) and any(400 <= s < 500 for s in seen), seen

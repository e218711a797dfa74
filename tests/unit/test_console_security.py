"""The console's browser rules (R21, R25): CSRF tokens bound to the session, same-origin posts, no open redirect,
`__Host-` cookies and the security headers on every answer (switchboard.console.app, security, web)."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from switchboard import settings
from switchboard.console import security
from switchboard.console.client import segment
from switchboard.console.web import CONSOLE_HEADERS
from tests.unit.console_support import (
    FORM,
    HOST,
    FakeApi,
    app,
    csrf_of,
    event,
    install_fake_api,
    post,
    session_cookie,
    set_cookies,
)

LOGOUT = ("DELETE", "/v1/sessions/current")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    return install_fake_api(monkeypatch)


def _login_page() -> tuple[str, str]:
    """The sign-in form as a new visitor gets it: its pre-session cookie and the form's token."""
    answer = app.handle(event("GET", "/console/login"))
    (presession,) = [c for c in set_cookies(answer) if c.startswith(security.PRESESSION_COOKIE)]
    return presession.split(";")[0], csrf_of(answer["body"])


def _signed_in_token(cookie: str, api: FakeApi) -> str:
    """The token a signed-in page's forms carry (read from the rendered page, as a browser would)."""
    answer = app.handle(event("GET", "/console/reauth", headers={"Cookie": cookie}))
    assert answer["statusCode"] == 200, answer["body"][:300]
    return csrf_of(answer["body"])


# --- CSRF -------------------------------------------------------------------------------------------------------


def test_a_signed_in_form_with_its_own_token_runs(api: FakeApi) -> None:
    cookie, _ = session_cookie()
    token = _signed_in_token(cookie, api)
    api.calls.clear()
    answer = post("/console/logout", {"csrf": token}, cookie=cookie)
    assert (answer["statusCode"], answer["headers"]["Location"]) == (303, "/console/login?notice=signed_out")
    assert [(m, p) for m, p, *_ in api.calls] == [("GET", "/v1/me"), LOGOUT]
    assert any(c.startswith(f"{security.SESSION_COOKIE}=;") and "Max-Age=0" in c for c in set_cookies(answer))


@pytest.mark.parametrize("which", ["missing", "empty", "wrong", "another_session", "presession", "truncated"])
def test_a_form_without_its_sessions_token_is_403_and_nothing_is_called(api: FakeApi, which: str) -> None:
    cookie, token = session_cookie()
    own = _signed_in_token(cookie, api)
    other_cookie, _ = session_cookie()
    presession, pre_token = _login_page()
    fields = {
        "missing": {},
        "empty": {"csrf": ""},
        "wrong": {"csrf": "A" * len(own)},
        "another_session": {"csrf": _signed_in_token(other_cookie, api)},
        "presession": {"csrf": pre_token},  # a token minted before sign-in is not the session's
        "truncated": {"csrf": own[:-1]},
    }[which]
    api.calls.clear()
    answer = post("/console/logout", fields, cookie=f"{cookie}; {presession}")
    assert answer["statusCode"] == 403
    assert "This form has expired" in answer["body"]
    assert api.calls == []
    assert security.csrf_token(token) == own  # the token is the session's HMAC, nothing else


def test_the_sign_in_form_is_bound_to_the_pre_session_cookie(api: FakeApi) -> None:
    api.answers[("POST", "/v1/sessions")] = (
        200,
        {"token": "sbs_" + "n" * 32, "expires_at": "2099-01-01T00:00:00Z", "idle_timeout_s": 900},
    )
    presession, token = _login_page()
    fields = {"csrf": token, "email": "a@example.com", "password": "pw"}  # pragma: allowlist secret
    # Without the cookie the token means nothing (login CSRF: another site cannot sign a victim in as itself).
    assert post("/console/login", fields)["statusCode"] == 403
    other, _ = _login_page()
    assert post("/console/login", fields, cookie=other)["statusCode"] == 403
    assert api.calls == []
    answer = post("/console/login", fields, cookie=presession)
    assert (answer["statusCode"], answer["headers"]["Location"]) == (303, "/console/messages")
    assert [(m, p) for m, p, *_ in api.calls] == [("POST", "/v1/sessions")]
    cookies = set_cookies(answer)
    session = next(c for c in cookies if c.startswith(f"{security.SESSION_COOKIE}=sbs_"))
    assert session.startswith(f"{security.SESSION_COOKIE}=sbs_{'n' * 32}~4070908800~900;")
    # Signing in ends the pre-session cookie: its tokens die with it.
    assert any(c.startswith(f"{security.PRESESSION_COOKIE}=;") and "Max-Age=0" in c for c in cookies)


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        # Chromium posts our own forms with Origin: null (the pages' Referrer-Policy is no-referrer): the
        # unforgeable Sec-Fetch-Site decides.
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "null"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": ""}, False),
        ({"Origin": f"https://{HOST}.evil.example"}, False),
        ({"Origin": f"https://{HOST}"}, True),
        ({"Origin": f"https://{HOST.upper()}"}, True),
    ],
)
def test_a_post_from_another_site_is_refused_even_with_a_valid_token(
    api: FakeApi, headers: dict[str, str], allowed: bool
) -> None:
    cookie, _ = session_cookie()
    token = _signed_in_token(cookie, api)
    api.calls.clear()
    sent = {"Content-Type": FORM, "Cookie": cookie, **headers}
    answer = app.handle(event("POST", "/console/logout", body=f"csrf={token}", headers=sent))
    assert answer["statusCode"] == (303 if allowed else 403)
    assert bool(api.calls) is allowed


# --- redirects after sign-in -------------------------------------------------------------------------------------

OPEN_REDIRECTS = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/console",
    "http:/evil.example",
    "javascript:alert(1)",
    "/console/../x",
    "/console/./messages",
    "/console/..",
    "%2F%2Fevil.example",
    "/console/%2F%2Fevil.example",
    "/console//evil.example",
    "/console/\tx",
    "/console\n/x",
    "/console/x\r\nLocation: //evil.example",
    "/consolex",
    "/console.evil.example",
    "/console@evil.example",
    "/console\\@evil.example",
    " /console/x",
    "/console/x#//evil",
    "/console/x?next=//evil",
    "/console/é",
    "/console/\uff0f\uff0fevil",  # fullwidth solidus
    "/console/x\u2028",
    "/console/" + "a" * 600,
    "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_safe_next_never_leaves_our_pages(target: str) -> None:
    assert app.safe_next(target) == "/console/messages"


@pytest.mark.parametrize("target", ["/console", "/console/api-keys", "/console/messages/msg_01k-x_y", "/console/a.b"])
def test_safe_next_keeps_our_own_pages(target: str) -> None:
    assert app.safe_next(target) == target


def test_the_sign_in_form_carries_only_a_safe_next(api: FakeApi) -> None:
    for target in ("//evil.example", "/console/api-keys"):
        answer = app.handle(event("GET", "/console/login", query={"next": target}))
        shown = re.search(r'name="next" value="([^"]*)"', answer["body"])
        assert shown and shown.group(1) == app.safe_next(target)


# --- cookies and headers -----------------------------------------------------------------------------------------


def _attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    found = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
    return name_value.partition("=")[0], found


def test_every_cookie_is_host_prefixed_secure_httponly_strict_path_root_without_domain(api: FakeApi) -> None:
    api.answers[("POST", "/v1/sessions")] = (200, {"token": "sbs_" + "m" * 32, "expires_at": "2099-01-01T00:00:00Z"})
    first = app.handle(event("GET", "/console/login"))
    presession, token = _login_page()
    login = post("/console/login", {"csrf": token, "email": "a@example.com", "password": "pw"}, cookie=presession)
    cookie, _ = session_cookie()
    logout = post("/console/logout", {"csrf": _signed_in_token(cookie, api)}, cookie=cookie)
    seen = [*set_cookies(first), *set_cookies(login), *set_cookies(logout)]
    assert len(seen) >= 4
    for value in seen:
        name, attributes = _attributes(value)
        assert name.startswith("__Host-"), value
        assert set(attributes) == {"max-age", "path", "secure", "httponly", "samesite"}, value
        assert attributes["path"] == "/" and attributes["samesite"] == "Strict", value
        assert "expires" not in attributes and "domain" not in attributes
    session = next(v for v in set_cookies(login) if v.startswith(f"{security.SESSION_COOKIE}=sbs_"))
    # It lives no longer than the session's absolute lifetime.
    assert 0 < int(_attributes(session)[1]["max-age"]) <= 4070908800


def _answers() -> dict[str, dict[str, Any]]:
    cookie, _ = session_cookie()
    return {
        "page": app.handle(event("GET", "/console/login")),
        "redirect": app.handle(event("GET", "/console")),
        "not_found": app.handle(event("GET", "/console/nothing")),
        "method": app.handle(event("DELETE", "/console/login")),
        "bad_request": app.handle(event("POST", "/console/login", body="!", b64=True)),
        "too_large": app.handle(event("POST", "/console/login", body="a=" + "x" * 70_000)),
        "media_type": app.handle(event("POST", "/console/login", body="{}", headers={"Content-Type": "text/json"})),
        "csrf": post("/console/logout", {}, cookie=cookie),
        "stylesheet": app.handle(event("GET", "/console/static/console.css")),
        "api_problem": app.handle(event("GET", "/console/reauth", headers={"Cookie": session_cookie()[0]})),
    }


def test_every_answer_carries_the_security_headers(api: FakeApi) -> None:
    api.answers[("GET", "/v1/me")] = (403, {"status": 403, "code": "forbidden", "detail": "no"})
    answers = _answers()
    assert {name: a["statusCode"] for name, a in answers.items()} == {
        "page": 200,
        "redirect": 303,
        "not_found": 404,
        "method": 405,
        "bad_request": 400,
        "too_large": 413,
        "media_type": 415,
        "csrf": 403,
        "stylesheet": 200,
        "api_problem": 403,
    }
    for name, answer in answers.items():
        _assert_security_headers(name, answer)
    assert answers["stylesheet"]["headers"]["Content-Type"] == "text/css; charset=utf-8"


def _assert_security_headers(name: str, answer: dict[str, Any]) -> None:
    headers = answer["headers"]
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().partition(" ")[::2] for d in csp.split(";"))
    assert directives["default-src"] == "'none'", name
    assert directives["frame-ancestors"] == "'none'", name
    assert directives["form-action"] == "'self'" and directives["base-uri"] == "'none'", name
    assert "script-src" not in directives  # default-src 'none': no script at all
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
    assert headers["X-Frame-Options"] == "DENY", name
    assert headers["X-Content-Type-Options"] == "nosniff", name
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000"), name
    assert headers["Referrer-Policy"] == "no-referrer", name
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin", name
    if name == "stylesheet":
        # The one exception on purpose: the stylesheet holds nothing personal and its URL carries its digest
        # (`?v=`), so browsers may keep it a day instead of fetching it with every page.
        assert headers["Cache-Control"] == "public, max-age=86400"
    else:
        assert headers["Cache-Control"] == "no-store", name
    assert set(CONSOLE_HEADERS) <= set(headers), name


@pytest.fixture
def unreachable_api(monkeypatch: pytest.MonkeyPatch) -> str:
    """PUBLIC_BASE_URL on a loopback port nothing listens on (found by binding it, then closing it)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    settings.reload()
    return f"http://127.0.0.1:{port}"


@pytest.mark.enable_socket
def test_an_unreachable_api_is_a_503_page_with_the_headers(unreachable_api: str) -> None:
    cookie, _ = session_cookie()
    answer = app.handle(event("GET", "/console/reauth", headers={"Cookie": cookie}))
    assert answer["statusCode"] == 503
    assert "Switchboard is unavailable" in answer["body"] and "nothing was changed" in answer["body"]
    _assert_security_headers("unavailable", answer)
    presession, token = _login_page()
    answer = post("/console/login", {"csrf": token, "email": "a@example.com", "password": "pw"}, cookie=presession)
    assert answer["statusCode"] == 503
    assert not any(c.startswith(security.SESSION_COOKIE) for c in set_cookies(answer))


def test_a_session_the_api_refuses_is_signed_out_with_its_cookie_deleted(api: FakeApi) -> None:
    api.answers[("GET", "/v1/me")] = (401, {"status": 401, "code": "unauthorized", "detail": "expired"})
    cookie, _ = session_cookie()
    answer = app.handle(event("GET", "/console/reauth", headers={"Cookie": cookie}))
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/login?next=%2Fconsole%2Freauth&notice=session_ended"
    assert any(c.startswith(f"{security.SESSION_COOKIE}=;") and "Max-Age=0" in c for c in set_cookies(answer))


def test_the_api_client_sends_only_printable_ascii_as_the_user_agent(api: FakeApi) -> None:
    cookie, _ = session_cookie()
    app.handle(event("GET", "/console/reauth", headers={"Cookie": cookie, "User-Agent": "Firefox\ud800 é\x00/1\r\n"}))
    ((_, _, headers, _),) = api.calls
    assert headers["user-agent"] == "Firefox /1"
    assert headers["authorization"].startswith("Bearer sbs_")


# --- re-authentication -------------------------------------------------------------------------------------------


def test_a_form_the_api_refuses_for_want_of_reauth_goes_to_reauth_and_back_to_its_page(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two pages of a kind the other lanes write (a list, and an action on one of its items), on a copy of the
    # routes so no other test sees them.
    monkeypatch.setattr(app, "_ROUTES", list(app._ROUTES))
    app.page("GET", "/console/test-keys")(lambda ctx: ctx.render("error.html", title="Keys", detail=""))
    app.page("POST", "/console/test-keys/{key_id}/revoke")(
        lambda ctx: (ctx.api.delete(f"/v1/api-keys/{segment(ctx.params['key_id'])}"), ctx.redirect("/"))[1]
    )
    api.answers[("DELETE", "/v1/api-keys/k1")] = (401, {"status": 401, "code": "reauth_required", "detail": "again"})
    cookie, _ = session_cookie()
    answer = post("/console/test-keys/k1/revoke", {"csrf": _signed_in_token(cookie, api)}, cookie=cookie)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/reauth?next=%2Fconsole%2Ftest-keys"
    # The session is kept: re-authenticating is all it takes.
    assert not any(c.startswith(security.SESSION_COOKIE) for c in set_cookies(answer))
    # A GET page asking for it comes back to itself.
    monkeypatch.setitem(api.answers, ("GET", "/v1/me"), (401, {"status": 401, "code": "reauth_required"}))
    answer = app.handle(event("GET", "/console/test-keys", headers={"Cookie": cookie}))
    assert answer["headers"]["Location"] == "/console/reauth?next=%2Fconsole%2Ftest-keys"

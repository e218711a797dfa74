"""The console reads whatever a browser (or anyone) sends as a 4xx page, never an exception: bodies, encodings,
sizes, content types, cookies, paths and methods (switchboard.console.web)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from switchboard.console import web
from switchboard.console.web import BadRequest, Request
from tests.unit.console_support import FORM, app, event

NUL_AND_SURROGATES = ["a=%00", "a=%ed%a0%80", "a=\ud800", "a=%ff", "%ff=1", "a=%C3%28"]


def _form(body: str, *, b64: bool = False, content_type: str = FORM) -> dict[str, Any]:
    return event("POST", "/console/login", body=body, headers={"Content-Type": content_type}, b64=b64)


def _page(answer: dict[str, Any], status: int) -> str:
    assert answer["statusCode"] == status, answer["body"][:300]
    assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>" in answer["body"]
    return str(answer["body"])


@pytest.mark.parametrize(
    ("body", "b64", "detail"),
    [
        ("!!!not base64", True, "not valid base64"),
        ("YQ=", True, "not valid base64"),
        (base64.b64encode(b"a=\xff\xfe").decode(), True, "not valid UTF-8"),
        (base64.b64encode(b"a=\xed\xa0\x80").decode(), True, "not valid UTF-8"),  # an encoded lone surrogate
        (base64.b64encode(b"a=1\x00").decode(), True, "NUL"),
        *((body, False, "") for body in NUL_AND_SURROGATES),
    ],
)
def test_a_body_no_form_could_send_is_a_400_page(body: str, b64: bool, detail: str) -> None:
    with pytest.raises(BadRequest) as refused:
        Request.from_event(_form(body, b64=b64))
    assert refused.value.status == 400
    assert detail in refused.value.detail
    html = _page(app.handle(_form(body, b64=b64)), 400)
    assert "Bad request" in html


def test_an_oversized_form_is_413_before_it_is_parsed() -> None:
    body = "a=" + "x" * web.MAX_BODY_BYTES
    _page(app.handle(_form(body)), 413)
    _page(app.handle(_form(base64.b64encode(body.encode()).decode(), b64=True)), 413)
    # One value over its limit inside a body of allowed size is 413 too.
    _page(app.handle(_form("a=" + "x" * (web.MAX_VALUE_CHARS + 1))), 413)
    # Exactly at the limits is read.
    assert Request.from_event(_form("a=" + "x" * web.MAX_VALUE_CHARS)).form["a"] == "x" * web.MAX_VALUE_CHARS


def test_too_many_fields_is_400_and_the_limit_itself_is_read() -> None:
    _page(app.handle(_form("&".join(f"f{i}=1" for i in range(web.MAX_FIELDS + 1)))), 400)
    assert len(Request.from_event(_form("&".join(f"f{i}=1" for i in range(web.MAX_FIELDS)))).form) == web.MAX_FIELDS


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain", "", "application/xml"]
)
def test_a_body_that_is_not_a_urlencoded_form_is_415(content_type: str) -> None:
    html = _page(app.handle(_form("a=1", content_type=content_type)), 415)
    assert "HTML forms only" in html


def test_the_form_content_type_is_matched_without_its_parameters_or_case() -> None:
    request = Request.from_event(
        _form("a=1&a=2&b=%C3%A9", content_type="Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    )
    assert dict(request.form) == {"a": "1", "b": "é"}  # the first of repeated names


@pytest.mark.parametrize(
    "cookie",
    [
        '__Host-sb_session="\\\x00; ;;==',
        "__Host-sb_session=sbs_short",
        "__Host-sb_session=" + "x" * 5000,
        "__Host-sb_session=sbs_aaaaaaaaaaaaaaaaaaaa~notanumber~1800",
        "__Host-sb_session=sbs_aaaaaaaaaaaaaaaaaaaa~99999999999999999999~1800",
        "=;=;=",
        "a=\ud800",
        "__Host-sb_presession=../../etc",
    ],
)
def test_a_malformed_cookie_is_no_session_and_never_an_error(cookie: str) -> None:
    answer = app.handle(event("GET", "/console/login", headers={"Cookie": cookie}))
    _page(answer, 200)  # the sign-in form, which needs no API call


def test_a_cookie_with_a_session_token_of_another_shape_is_not_a_session() -> None:
    from switchboard.console import security  # noqa: PLC0415

    for value in ("sb_live_abcdefghijklmnopqrstu", "sbs_" + "a" * 200, "sbs_abc def ghi jkl mno", "sbs_é" * 10):
        assert security.session_of(Request("GET", "/console", cookies={security.SESSION_COOKIE: value})) is None


@pytest.mark.parametrize(
    ("where", "value"),
    [("path", "/console/\ud800"), ("path", "/console/\x00"), ("query", "\ud800"), ("query", "a\x00b")],
)
def test_invalid_text_in_the_path_or_query_is_400(where: str, value: str) -> None:
    answer = app.handle(
        event(
            "GET", value if where == "path" else "/console/login", query={"next": value} if where == "query" else None
        )
    )
    _page(answer, 400)


@pytest.mark.parametrize(
    "shape",
    [
        {"headers": ["x"]},
        {"queryStringParameters": "x"},
        {"requestContext": "x"},
        {"body": 5, "headers": {"Content-Type": FORM}, "httpMethod": "POST"},
        {"httpMethod": None, "path": None},
        {},
    ],
)
def test_an_event_of_the_wrong_shape_is_a_4xx_page_not_an_exception(shape: dict[str, Any]) -> None:
    answer = app.handle({"httpMethod": "GET", "path": "/console/login", **shape})
    assert 400 <= answer["statusCode"] < 500 or answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"].startswith("text/html")


def test_unknown_pages_are_404_and_other_methods_of_a_page_are_405() -> None:
    assert "Page not found" in _page(app.handle(event("GET", "/console/no-such-page")), 404)
    assert "Page not found" in _page(app.handle(event("GET", "/console/login/extra")), 404)
    assert "Method not allowed" in _page(app.handle(event("PUT", "/console/login")), 405)
    assert "Method not allowed" in _page(app.handle(event("PROPFIND", "/console/login")), 405)
    # A page's `{name}` segment takes letters, digits, `_` and `-` only: anything else is no page at all.
    assert app.safe_next("/console/x") == "/console/x"


def test_the_front_door_redirects_by_session() -> None:
    from tests.unit.console_support import session_cookie  # noqa: PLC0415

    assert app.handle(event("GET", "/console"))["headers"]["Location"] == "/console/login"
    assert app.handle(event("GET", "/console/"))["headers"]["Location"] == "/console/login"
    cookie, _ = session_cookie()
    assert (
        app.handle(event("GET", "/console", headers={"Cookie": cookie}))["headers"]["Location"] == "/console/messages"
    )


def test_a_signed_in_page_without_a_session_goes_to_sign_in_and_comes_back() -> None:
    answer = app.handle(event("GET", "/console/reauth"))
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/login?next=%2Fconsole%2Freauth"

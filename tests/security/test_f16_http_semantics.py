"""F16 (R37, R40): one Authorization header or 400; Accept honoured (406); 405 with Allow; no HTML, any method.

Through the local gateway and the deployed handlers (in-process stack), and over a socket where the HTTP server
itself is involved (methods the stdlib does not know, malformed request lines).
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator

import pytest

from local.gateway import Response
from switchboard import catalog
from tests.security import local_stack
from tests.security.local_stack import Client

PROBLEM = "application/problem+json"
GUARDED = "/v1/me"
PUBLIC = "/v1/health"
TEXT = "/.well-known/security.txt"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "FOO")
PATHS: dict[str, set[str]] = {}
for _route, _ in catalog.routes():
    PATHS.setdefault(_route.path, set()).add(_route.method)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    yield from local_stack.running()


def _problem(answer: Response, status: int, code: str | None = None) -> dict[str, object]:
    assert answer.status == status, answer.body[:300]
    assert answer.header("Content-Type") == PROBLEM
    body: dict[str, object] = json.loads(answer.body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


def _concrete(template: str, client: Client) -> str:
    return re.sub(r"\{(\w+)\+?\}", lambda m: client.ids.get(m.group(1), "x"), template)


# --- two Authorization headers ---------------------------------------------------------------------------------


def _duplicates(token: str) -> list[list[tuple[str, str]]]:
    bearer = f"Bearer {token}"
    return [
        [("Authorization", bearer), ("Authorization", bearer)],
        [("Authorization", "Bearer sbs_attacker"), ("Authorization", bearer)],
        [("Authorization", bearer), ("Authorization", "Bearer sbs_attacker")],
        [("authorization", bearer), ("AUTHORIZATION", "Basic eDp5")],
        [("Authorization", f"{bearer}, Bearer sbs_attacker")],
        [("Authorization", f"Bearer sbs_attacker,{token}")],
        [("Authorization", f"{bearer},")],
    ]


@pytest.mark.parametrize("path", [GUARDED, "/v1/api-keys", PUBLIC, "/v1/signup"])
def test_two_credentials_are_refused_never_last_wins(client: Client, path: str) -> None:
    client.ensure_session()
    method = "POST" if path == "/v1/signup" else "GET"
    signup = {"email": "dup@example.com", "password": local_stack.PASSWORD, "account_name": "Dup"}
    body = json.dumps(signup).encode() if method == "POST" else b""
    for headers in _duplicates(client.token):
        typed = [*headers, ("Content-Type", "application/json")] if body else headers
        answer = client.send(method, path, headers=typed, body=body)
        _problem(answer, 400, "duplicate_authorization")
    # One header with the same credential works, so the refusal is about the duplicate only.
    if path in (GUARDED, "/v1/api-keys"):
        assert client.send("GET", path, headers=[("Authorization", f"Bearer {client.token}")]).status == 200


# --- Accept -------------------------------------------------------------------------------------------------------

REFUSED = [
    "application/xml",
    "text/html",
    "text/*",
    "image/png, text/plain",
    "application/json;q=0",
    "application/json;q=0, application/problem+json;q=0",
    "*/*;q=0",
    "application/*;q=0",
    "application/json;q=abc",
]
ADMITTED = [
    "*/*",
    "application/*",
    "application/json",
    "APPLICATION/JSON",
    "application/problem+json",
    "application/xml, application/json;q=0.1",
    "text/html, */*;q=0.01",
    "application/json; charset=utf-8",
    "",
]


@pytest.mark.parametrize("accept", REFUSED)
@pytest.mark.parametrize("path", [GUARDED, PUBLIC, "/v1/api-keys"])
def test_an_accept_that_admits_no_json_is_406(client: Client, path: str, accept: str) -> None:
    client.ensure_session()
    headers = [("Accept", accept), ("Authorization", f"Bearer {client.token}")]
    body = _problem(client.send("GET", path, headers=headers), 406, "not_acceptable")
    assert "application/json" in str(body["detail"])


@pytest.mark.parametrize("accept", ADMITTED)
@pytest.mark.parametrize("path", [GUARDED, PUBLIC])
def test_an_accept_that_admits_json_is_answered(client: Client, path: str, accept: str) -> None:
    client.ensure_session()
    headers = [("Accept", accept), ("Authorization", f"Bearer {client.token}")]
    answer = client.send("GET", path, headers=headers)
    assert answer.status == 200, answer.body
    assert answer.header("Content-Type") == "application/json"


def test_a_missing_accept_is_answered_and_text_routes_honour_text(client: Client) -> None:
    assert client.send("GET", PUBLIC).status == 200
    assert client.send("GET", TEXT, headers=[("Accept", "text/plain")]).status == 200
    assert client.send("GET", TEXT, headers=[("Accept", "text/*")]).status == 200
    _problem(client.send("GET", TEXT, headers=[("Accept", "application/xml")]), 406, "not_acceptable")


def test_a_refused_accept_changes_nothing(client: Client) -> None:
    client.ensure_session()
    auth = ("Authorization", f"Bearer {client.token}")
    before = client.json("GET", "/v1/api-keys")[1]["data"]
    payload = json.dumps({"name": "never", "role": "viewer"}).encode()
    headers = [auth, ("Content-Type", "application/json"), ("Accept", "application/xml")]
    _problem(client.send("POST", "/v1/api-keys", body=payload, headers=headers), 406)
    assert client.json("GET", "/v1/api-keys")[1]["data"] == before


# --- 405 with Allow -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(PATHS))
def test_an_unknown_method_on_every_known_path_is_405_with_allow(client: Client, path: str) -> None:
    target = _concrete(path, client)
    for method in METHODS:
        if method in PATHS[path]:
            continue
        answer = client.send(method, target)
        _problem(answer, 405, "method_not_allowed")
        allowed = {m.strip() for m in (answer.header("Allow") or "").split(",")}
        assert allowed == PATHS[path], (method, path, allowed)


def test_an_unknown_path_stays_404(client: Client) -> None:
    for method in ("GET", "TRACE", "FOO"):
        _problem(client.send(method, "/v1/no-such-thing"), 404, "not_found")


# --- over a socket: the HTTP server never answers HTML ---------------------------------------------------------


def _raw(client: Client, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", client.gateway.port, timeout=10)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW", "M-SEARCH"])
def test_any_method_over_http_gets_problem_json(client: Client, method: str) -> None:
    status, headers, body = _raw(client, method, PUBLIC)
    assert status == 405
    assert headers["content-type"] == PROBLEM
    assert headers["allow"] == "GET"
    assert json.loads(body)["code"] == "method_not_allowed"
    status, headers, body = _raw(client, method, "/nowhere")
    assert (status, headers["content-type"]) == (404, PROBLEM)


def _exchange(client: Client, data: bytes) -> tuple[bytes, bytes]:
    import socket  # noqa: PLC0415

    with socket.create_connection(("127.0.0.1", client.gateway.port), timeout=10) as raw:
        raw.sendall(data)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/"):
        return b"", answer  # an HTTP/0.9-style answer (a request line without a version) is the body alone
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_requests_the_server_cannot_read_get_problem_json(client: Client) -> None:
    too_long = b"GET /v1/health HTTP/1.1\r\nX-Filler: " + b"a" * 70_000 + b"\r\n\r\n"
    head, body = _exchange(client, too_long)
    assert b" 431 " in head.split(b"\r\n")[0]
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 431
    for line in (b"GET /v1/health HTTP/9.9 extra\r\n\r\n", b"GET /v1/health HTTP/2.0\r\n\r\n"):
        head, body = _exchange(client, line)
        assert b"<html" not in body.lower() and json.loads(body)["status"] in (400, 505), body

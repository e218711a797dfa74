"""F03 (R36, R38): no input the client controls makes any route answer 5xx; each gets a 4xx problem+json.

Every route of `switchboard/catalog.py` (a new route is covered without editing this file) gets the same families of
hostile requests through the local gateway and the deployed handlers (in-process stack: moto, the catalog's
functions with their own environments): bodies that are not UTF-8, JSON nested thousands deep, odd and
mis-cased media types, huge numbers, NaN, duplicate keys, non-ASCII digits in every query parameter the OpenAPI
document declares, forged cursors, datetimes at the ends of the range, and non-ASCII header values. Where a
family has one right answer (400, 415, ...) the test asserts it, not only "not 5xx".
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.paths import ROOT
from local.gateway import Response
from switchboard import catalog, clock
from tests.security import local_stack
from tests.security.local_stack import Client

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())
# The JSON API's routes: the console's HTML pages answer bad input with 4xx pages, not problems
# (tests/unit/test_console_fuzz.py, tests/unit/test_console_requests.py).
ROUTES = sorted(((route.method, route.path, route.auth) for route, _ in catalog.json_routes()), key=lambda r: r[:2])
ROUTE_INDEX = {f"{method} {path}": index for index, (method, path, _) in enumerate(ROUTES)}
_T = TypeVar("_T")
# Routes whose body is signed by a third party: the handler checks the signature first, so an unsigned hostile
# body is refused as unsigned (401) before its form is looked at; the gateway's request model (deployed too) may
# refuse a body that is not JSON first (400).
SIGNED = frozenset(
    {
        ("POST", "/v1/billing/events"),
        ("POST", "/v1/carriers/{carrier}/events"),
        ("GET", "/v1/carriers/{carrier}/events"),
    }
)
JSON = "application/json"
PROBLEM = "application/problem+json"

# Superscript, Arabic-Indic, fullwidth, mathematical bold, Persian: digits to str.isdigit(), not ASCII.
NON_ASCII_DIGITS = ["\u00b2", "\u0663", "\uff13", "\U0001d7d7", "1\u00b2", "\u06f1\u06f2"]
ODD_INTEGERS = ["1e3", "-1", "0", "9" * 40, " 5", "5 ", "0x10", "1_0", "NaN", "inf", "+5", "1.5", "", "\x00", "%"]
# At the ends of the range: valid, or past them once converted to UTC (year 0 or 10000): never 5xx.
EDGE_TIMES = ["0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59+23:59", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
ODD_TIMES = [
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59.999999-00:01",
    "2026-13-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "\u0662\u0660\u0662\u0666-01-01T00:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "-2026-01-01T00:00:00Z",
]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = [
    _b64(b"{}"),
    _b64(json.dumps({"pk": "ACCT#x"}).encode()),
    _b64(json.dumps({"sk": "x"}).encode()),
    _b64(json.dumps({"pk": 1, "sk": 2}).encode()),
    _b64(json.dumps({"pk": None, "sk": []}).encode()),
    _b64(json.dumps(["pk", "sk"]).encode()),
    _b64(b"null"),
    _b64(b"evt:\xd9\xa3"),  # an Arabic-Indic digit after the audit prefix
    _b64(b"evt:" + b"9" * 60),
    _b64(b"evt:-1"),
    _b64(b"\xff\xfe\x00"),
    "not base64!",
    "====",
    "a",
    "%ZZ",
    _b64(b"x" * 3000),
    "A" * 5000,
]

NOT_UTF8 = [b'{"name": "\xff"}', b"\xc0\xaf", b'{"a":"\xed\xa0\x80"}', "{}".encode("utf-16")]
DEEP = [b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000]
# Not strict JSON (RFC 8259 with I-JSON's limits): NaN, a number beyond the double range, an integer Python will
# not convert, a repeated name, a byte-order mark, a truncated or trailing text.
NOT_STRICT = frozenset(
    {
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e999999}',
        b'{"a": ' + b"1" * 5000 + b"}",
        b'{"a": 1, "a": 2}',
        b'{"email": "x@example.com", "email": "y@example.com"}',
        b"\xef\xbb\xbf{}",
        b"{",
        b'{"a": 1}garbage',
    }
)
# JSON, but a lone surrogate is no character (I-JSON): 422 invalid_unicode (tests/security/test_p08_surrogates.py),
# or the gateway's request model refuses the name first (400).
LONE_SURROGATE = frozenset({b'{"a": "\\ud800"}'})
ODD_JSON = [
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e999999}',
    b'{"a": ' + b"1" * 5000 + b"}",  # Python refuses to convert an integer of more than 4,300 digits
    b'{"a": -' + b"9" * 400 + b"}",
    b'{"a": 1, "a": 2}',
    b'{"email": "x@example.com", "email": "y@example.com"}',
    b'{"a": "\\ud800"}',
    b"\xef\xbb\xbf{}",
    b"",
    b"null",
    b"{",
    b'{"a": 1}garbage',
]
NOT_OURS = ["application/vnd.api+json", "text/plain", "multipart/form-data; boundary=x"]
OURS_IN_ANY_CASE = ["APPLICATION/JSON", "Application/Json ; Charset=UTF-8"]
NON_ASCII_HEADER_VALUES = ["\u00c3\u00a9\u0085"]  # as latin-1: how the UTF-8 bytes of `é`, then a C1 byte, arrive


@dataclass(frozen=True)
class Case:
    """One hostile request and, where the family has exactly one right answer, that status."""

    family: str
    target: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    expect: frozenset[int] = frozenset()


def _operation(method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENT["paths"].get(path, {}).get(method.lower(), {})
    return operation


def query_parameters(method: str, path: str) -> list[tuple[str, dict[str, Any]]]:
    """The query parameters the OpenAPI document declares for an operation, with their schemas."""
    return [
        (p["name"], p.get("schema", {})) for p in _operation(method, path).get("parameters", []) if p["in"] == "query"
    ]


def _is_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" or any(s.get("type") == "integer" for s in schema.get("anyOf", []))


def _concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\+?\}", lambda m: quote(ids.get(m.group(1), "x"), safe=""), path)


SEED = 20261202
PER_FAMILY = 3  # variants of each family per route: every route gets every family, the routes share the variants


def _pick(values: Sequence[_T], route: str, family: str, k: int = PER_FAMILY) -> list[_T]:
    """A seeded choice of `k` variants for one route (the route's position spreads the variants over routes)."""
    if len(values) <= k:
        return list(values)
    offset = ROUTE_INDEX.get(route, 0) * k + zlib.crc32(f"{SEED}:{family}".encode()) % len(values)
    return [values[(offset + i) % len(values)] for i in range(k)]


def _query_cases(method: str, path: str, base: str) -> Iterator[Case]:
    """Hostile values of every query parameter the document declares for the route."""
    route = f"{method} {path}"
    for name, schema in query_parameters(method, path):
        values = [*NON_ASCII_DIGITS]
        if _is_integer(schema):
            values += ODD_INTEGERS
        if name in {"since", "until"}:
            values += ODD_TIMES + EDGE_TIMES
        if name == "cursor":
            values += FORGED_CURSORS
        # Out-of-range times and forged cursors each take a different path: all of them, always.
        always = [v for v in values if v in ODD_TIMES or v in FORGED_CURSORS]
        for value in always + _pick([v for v in values if v not in always], route, f"query {name}", 4):
            # Non-ASCII in any parameter is a 400 (never 5xx, never read as an ASCII digit); a forged cursor or a
            # time out of range is a 400 (a cursor over the parameter's documented length may be a 422); other
            # ASCII oddities of an integer may be read leniently (" 5" as 5) but never crash.
            expect: set[int] = set()
            if not value.isascii():
                expect = {400}
            elif name == "cursor":
                expect = {400, 422}
            elif value in ODD_TIMES:
                expect = {400}
            target = f"{base}?{quote(name)}={quote(value, safe='')}"
            yield Case(f"query {name}", target, expect=frozenset(expect))


def cases(method: str, path: str, ids: dict[str, str]) -> Iterator[Case]:
    """The hostile requests for one route."""
    base = _concrete(path, ids)
    route = f"{method} {path}"
    signed = (method, path) in SIGNED
    bad_body = frozenset({400, 401}) if signed else frozenset({400})
    for body in _pick(NOT_UTF8, route, "not UTF-8", 2):
        yield Case("not UTF-8", base, body, (("Content-Type", JSON),), bad_body)
    for body in DEEP:
        yield Case("nested deep", base, body, (("Content-Type", JSON),), bad_body)
    for body in _pick(ODD_JSON, route, "odd JSON", 5):
        # Strict JSON only (no NaN, 1e999, repeated names, 5,000-digit integers): 400, or 401 before it.
        expect = bad_body if body in NOT_STRICT else frozenset()
        if body in LONE_SURROGATE:
            expect = bad_body | {422}
        yield Case("odd JSON", base, body, (("Content-Type", JSON),), expect)
    for media in _pick(NOT_OURS, route, "media", 2):
        refused = frozenset({400, 401, 415} if signed else {415})
        yield Case("not our media type", base, b"{}", (("Content-Type", media),), refused)
    for media in _pick(OURS_IN_ANY_CASE, route, "JSON in any case", 1):
        yield Case("JSON in any case", base, b"{}", (("Content-Type", media),))
    yield from _query_cases(method, path, base)
    for value in NON_ASCII_HEADER_VALUES:
        headers = ("Idempotency-Key", "X-Sandbox-Signature", "Stripe-Signature", "X-Twilio-Signature")
        for header in _pick(headers, route, "header", 2):
            yield Case(f"header {header}", base, b"{}", (("Content-Type", JSON), (header, value)))
        yield Case("header Content-Type", base, b"{}", (("Content-Type", f"application/json{value}"),))
        yield Case("header Accept", base, headers=(("Accept", f"application/json{value}"),))
        yield Case("header Authorization", base, headers=(("Authorization", f"Bearer sbs_{value}"),))
    yield Case(
        "signature t=",
        base,
        b"{}",
        (("Content-Type", JSON), ("X-Sandbox-Signature", "t=\u0661\u0667" + "\u0660" * 8 + ",v1=\u00e9")),
    )
    yield Case("signature v1=", base, b"{}", (("Content-Type", JSON), ("Stripe-Signature", "t=1,v1=ab\u00e9")))


def _failure(client: Client, method: str, auth: catalog.Auth, case: Case) -> str | None:
    authenticated = auth is not catalog.Auth.PUBLIC and case.family != "header Authorization"

    def send() -> Response:
        headers = [*case.headers, *([("Authorization", f"Bearer {client.token}")] if authenticated else [])]
        return client.send(method, case.target, body=case.body, headers=headers)

    answer = send()
    if authenticated and answer.status == 401 and 401 not in case.expect:
        client.ensure_session()  # an earlier case ended the session (DELETE /v1/sessions, ...): once more
        answer = send()
    if answer.status == 429 and 429 not in case.expect and answer.header("Retry-After"):
        # The rate limit is not under test here: wait it out (on the platform clock) like a client, once.
        clock.advance(float(answer.header("Retry-After") or 1))
        answer = send()
    where = f"{case.family}: {method} {case.target[:120]!r} body={case.body[:40]!r} headers={case.headers}"
    if answer.status >= 500:
        return f"{answer.status} for {where}"
    if answer.status >= 400:
        content_type = answer.header("Content-Type") or ""
        try:
            problem = json.loads(answer.body)
        except ValueError:
            return f"{answer.status} without a JSON body for {where}"
        if content_type != PROBLEM or problem.get("status") != answer.status or not problem.get("code"):
            return f"{answer.status} not problem+json ({content_type}) for {where}"
    if case.expect and (authenticated or auth is catalog.Auth.PUBLIC) and answer.status not in case.expect:
        return f"{answer.status} (wanted {sorted(case.expect)}) for {where}: {answer.body[:160]!r}"
    if case.family == "JSON in any case" and answer.status == 415:
        return f"415 for a JSON media type in another case: {where}"
    return None


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    yield from local_stack.running()


@pytest.mark.parametrize(("method", "path", "auth"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_answers_hostile_input_with_a_4xx_problem(
    client: Client, method: str, path: str, auth: catalog.Auth
) -> None:
    failures: list[str] = []
    client.ensure_session()
    client.fresh_resources()  # a hostile DELETE that was well-formed enough may have removed the last ones
    for case in cases(method, path, client.ids):
        failure = _failure(client, method, auth, case)
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures[:40])


def test_every_documented_operation_is_a_catalog_route() -> None:
    # The families above read the document's query parameters: a route it does not describe would lose them.
    documented = {(m.upper(), p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    assert {(m, p) for m, p, _ in ROUTES if not p.startswith("/.well-known")} <= documented | {
        (m, p) for m, p, _ in ROUTES
    }
    assert documented <= {(m, p) for m, p, _ in ROUTES}


def _request_strategy() -> st.SearchStrategy[tuple[str, str, catalog.Auth, str, bytes, str]]:
    route = st.sampled_from(ROUTES)
    value = st.one_of(st.text(max_size=30), st.sampled_from(NON_ASCII_DIGITS + ODD_INTEGERS + FORGED_CURSORS[:6]))
    body = st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
            max_leaves=20,
        ).map(lambda doc: json.dumps(doc).encode()),
    )
    media = st.sampled_from([JSON, "APPLICATION/JSON", "text/plain", "application/vnd.api+json", ""])
    return st.tuples(route, value, body, media).map(lambda t: (*t[0], t[1], t[2], t[3]))


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=_request_strategy())
def test_property_any_value_in_any_declared_parameter_or_body_is_never_5xx(
    client: Client, request: tuple[str, str, catalog.Auth, str, bytes, str]
) -> None:
    method, path, auth, value, body, media = request
    target = _concrete(path, client.ids)
    names = [name for name, _ in query_parameters(method, path)] or ["q"]
    target += "?" + "&".join(f"{quote(name)}={quote(value, safe='')}" for name in names)
    headers = (("Content-Type", media),) if media else ()
    failure = _failure(client, method, auth, Case("generated", target, body, headers))
    assert failure is None, failure


@pytest.mark.parametrize(
    ("function", "path"),
    [("billing_events", "/v1/billing/events"), ("carrier_events", "/v1/carriers/sandbox-a/events")],
)
def test_a_signed_route_checks_the_signature_before_reading_a_hostile_body(
    client: Client, function: str, path: str
) -> None:
    # Straight to the function (no gateway model in front): whatever the body, an unsigned or badly signed request
    # is a 401 and never a 5xx; nothing about the body's form is told first.
    bodies = [*NOT_UTF8, *DEEP, *sorted(NOT_STRICT), *sorted(LONE_SURROGATE)]
    media = [JSON, *NOT_OURS]
    signatures = {
        "Stripe-Signature": ["", "t=\u0661\u0662,v1=ab", "t=1,v1=\u00e9", "t=" + "9" * 5000 + ",v1=00"],
        "X-Sandbox-Signature": ["", "t=\u0661\u0662,v1=ab", "t=1,v1=\u00e9", "t=" + "9" * 5000 + ",v1=00"],
    }
    spec = catalog.function(function)
    for index, body in enumerate(bodies):
        for header, values in signatures.items():
            value = values[index % len(values)]
            headers = {"Content-Type": media[index % len(media)], header: value}
            event = {
                "resource": path.replace("sandbox-a", "{carrier}"),
                "path": path,
                "httpMethod": "POST",
                "headers": headers,
                "multiValueHeaders": {k: [v] for k, v in headers.items()},
                "queryStringParameters": None,
                "multiValueQueryStringParameters": None,
                "pathParameters": {"carrier": "sandbox-a"} if "carriers" in path else None,
                "requestContext": {"requestId": "f03-signed", "identity": {"sourceIp": local_stack.ATTACKER_IP}},
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
            result = client.gateway.invoker.run(spec, event)
            assert result["statusCode"] == 401, (body[:40], headers, result["body"][:200])
            assert result["multiValueHeaders"]["Content-Type"] == [PROBLEM]


BAD_HOSTS = ["a" * 64 + ".example.com", "a..example.com", ".example.com", "x." + "b" * 70]
ODD_HOSTS = ["xn--zz.example.com", "xn--.example.com", "ex\u00e4mple.com", "-a-.example.com"]


def test_a_webhook_or_callback_host_the_idna_codec_refuses_is_422(client: Client) -> None:
    client.ensure_session()
    for host in BAD_HOSTS + ODD_HOSTS:
        url = f"https://{host}/hook"
        status, body = client.json("POST", "/v1/webhook-endpoints", {"url": url, "events": ["message.status"]})
        assert status < 500, (host, body)
        if host in BAD_HOSTS:
            assert (status, body["code"]) == (422, "invalid_webhook_url"), (host, body)
        message = {"to": "+14155550004", "channel": "sms", "body": "hi", "callback_url": url}
        status, body = client.json("POST", "/v1/messages", message)
        assert status < 500, (host, body)
        if host in BAD_HOSTS:
            assert status == 422, (host, body)


def _digits(code: str, zero: int) -> str:
    """`code` with its ASCII digits written in another script (zero: that script's digit zero)."""
    return "".join(chr(zero + int(c)) if c.isdigit() else chr(ord(c) + 0xFEE0) for c in code)


SCRIPTS = {"Arabic-Indic": 0x0660, "fullwidth": 0xFF10, "Devanagari": 0x0966, "mathematical bold": 0x1D7CE}


def test_totp_and_recovery_codes_in_other_digits_are_refused_never_read_as_ascii(client: Client) -> None:
    from switchboard.crypto import totp  # noqa: PLC0415 - the platform clock of this very process

    email = "mfa@example.com"
    signup = {"email": email, "password": local_stack.PASSWORD, "account_name": "Mfa"}
    assert client.json("POST", "/v1/signup", signup, auth=False)[0] == 202
    mail = next(m for m in client.json("GET", "/_local/outbox", auth=False)[1]["data"] if m["to"] == email)
    assert client.json("POST", "/v1/email-verifications", {"token": mail["token"]}, auth=False)[0] == 200
    login = {"email": email, "password": local_stack.PASSWORD}
    status, session = client.json("POST", "/v1/sessions", login, auth=False)
    assert status == 201, session
    owner = Client(client.gateway, token=session["token"])
    status, enrol = owner.json("POST", "/v1/me/mfa/totp")
    assert status == 201, enrol
    code = totp.code_at_step(enrol["secret"], totp.current_step())
    for script, zero in SCRIPTS.items():
        status, body = owner.json("POST", "/v1/me/mfa/totp/activate", {"code": _digits(code, zero)})
        assert status in (400, 401, 422), (script, body)
    status, activated = owner.json("POST", "/v1/me/mfa/totp/activate", {"code": code})
    assert status == 200, activated
    recovery = activated["recovery_codes"][0]
    later = totp.code_at_step(enrol["secret"], totp.current_step() + 1)
    for script, zero in SCRIPTS.items():
        for field, value in (("totp_code", _digits(later, zero)), ("recovery_code", _digits(recovery, zero))):
            status, body = client.json("POST", "/v1/sessions", {**login, field: value}, auth=False)
            assert status in (400, 401, 422), (script, field, body)
    # The recovery code itself still works: the refusals above spent nothing.
    status, body = client.json("POST", "/v1/sessions", {**login, "recovery_code": recovery}, auth=False)
    assert status == 201, body

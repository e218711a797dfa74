"""F12 (R27): any query parameter that is or holds one of our credentials, however wrapped or encoded, is a 400."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard import api, auth, catalog
from switchboard.dal.messaging_table import encode_cursor
from switchboard.logic import authorizer
from tests.lambda_context import Context

# Routes of a test app declare their policy like the catalog's (an undeclared handler is refused).
app = api.build_resolver(
    routes=[
        catalog.Route("GET", "/v1/things", catalog.Auth.PUBLIC, "test route", permission=None),
    ]
)
ran: list[str] = []


@app.get("/v1/things")
def list_things() -> dict[str, list[str]]:
    ran.append("list")
    return {"data": []}


def _token_chars(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")[:size]


SESSION = "sbs_" + _token_chars(43)
TEST_KEY = f"sb_test_key_{'0' * 26}_{_token_chars(43)}"
LIVE_KEY = f"sb_live_key_{'a' * 26}_{_token_chars(43)}"
CREDENTIALS = (SESSION, TEST_KEY, LIVE_KEY)

# How a credential ends up in a query value: each wrapper takes the credential, gives the decoded value.
WRAPPERS = {
    "as is": lambda c: c,
    "bearer": lambda c: f"Bearer {c}",
    "lower bearer": lambda c: f"bearer {c}",
    "upper": lambda c: c.upper(),
    "leading space": lambda c: f" {c}",
    "trailing newline": lambda c: f"{c}\n",
    "tab": lambda c: f"\t{c}",
    "assignment": lambda c: f"token={c}",
    "json": lambda c: json.dumps({"t": c}),
    "url": lambda c: f"https://example.com/cb?key={c}",
    "percent-encoded again": lambda c: quote(c, safe=""),
    "percent-encoded twice": lambda c: quote(quote(f"Bearer {c}", safe=""), safe=""),
    "every byte encoded": lambda c: "".join(f"%{b:02X}" for b in c.encode()),
    "plus for space": lambda c: f"Bearer+{c}",
    "fullwidth": lambda c: "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in c),
    "comma list": lambda c: f"a,{c}",
    "truncated": lambda c: c[:12],
}


def _event(query: dict[str, list[str]], *, authorizer_context: dict[str, str] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": "req-12", "identity": {"sourceIp": "198.51.100.7"}}
    if authorizer_context is not None:
        context["authorizer"] = authorizer_context
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:api/live/GET/v1/things",
        "resource": "/v1/things",
        "path": "/v1/things",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        # API Gateway keeps the last value of a repeated parameter here, every value in the multi-value map.
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "requestContext": context,
        "body": None,
        "isBase64Encoded": False,
    }


def _refused_by_handler(query: dict[str, list[str]]) -> bool:
    ran.clear()
    result = api.handle(app, _event(query), Context())  # type: ignore[arg-type]
    if result["statusCode"] != 400:
        assert result["statusCode"] == 200 and ran == ["list"]
        return False
    body = json.loads(result["body"])
    assert body["code"] == "credentials_in_url" and body["request_id"] == "req-12"
    assert result["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    assert ran == [], "the route ran although the URL carried a credential"
    return True


def _refused_by_authorizer(query: dict[str, list[str]]) -> bool:
    # No AWS here: a refusal is decided before any credential is looked up (a lookup would fail the test).
    decision = authorizer.authorize(_event(query))
    refused = decision["context"].get("refusal") == auth.CREDENTIALS_IN_URL
    if refused:
        assert decision["principalId"] == "anonymous" and decision["context"]["account_id"] == ""
        # And the handler behind it answers 400 for that refusal, whatever the request holds.
        ran.clear()
        result = api.handle(app, _event(query, authorizer_context=decision["context"]), Context())  # type: ignore[arg-type]
        assert result["statusCode"] == 400 and json.loads(result["body"])["code"] == "credentials_in_url"
        assert ran == []
    return refused


@pytest.mark.parametrize("credential", CREDENTIALS, ids=("session", "test key", "live key"))
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_a_credential_in_any_query_value_is_refused_before_anything_runs(credential: str, wrapper: str) -> None:
    value = WRAPPERS[wrapper](credential)
    for query in ({"x": [value]}, {"limit": ["10"], "q": [value]}, {"x": ["harmless", value]}):
        assert _refused_by_handler(query), (wrapper, query)
        assert _refused_by_authorizer(query), (wrapper, query)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=("session", "test key", "live key"))
def test_a_credential_as_a_parameter_name_is_refused(credential: str) -> None:
    for query in ({credential: [""]}, {f"Bearer {credential}": ["1"]}):
        assert _refused_by_handler(query)
        assert _refused_by_authorizer(query)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from(["sbs_", "sb_test_", "sb_live_", "SBS_", "Sb_Test_"]),
    tail=st.text(alphabet="ABCxyz0189_-", min_size=0, max_size=50),
    before=st.sampled_from(["", " ", "Bearer ", "bearer\t", "x=", "[", '"', "%20", "+", "/", ":"]),
    after=st.sampled_from(["", " ", "&", '"', "]", "%0A"]),
    encodings=st.integers(min_value=0, max_value=3),
)
def test_property_any_wrapping_of_a_credential_prefix_is_refused(
    prefix: str, tail: str, before: str, after: str, encodings: int
) -> None:
    value = before + prefix + tail + after
    for _ in range(encodings):
        value = quote(value, safe="")
    assert _refused_by_handler({"x": [value]})


@settings(derandomize=True, max_examples=200, deadline=None)
@given(sk=st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=60))
def test_property_ordinary_query_values_pass(sk: str) -> None:
    # The values this API's own query parameters carry: cursors it issued, limits, times, filters.
    cursor = encode_cursor({"pk": {"S": "ACCT#acct_1"}, "sk": {"S": sk}})
    assert cursor is not None
    query = {"cursor": [cursor], "limit": ["25"], "since": ["2026-01-01T00:00:00Z"], "status": ["sent"]}
    assert not _refused_by_handler(query)

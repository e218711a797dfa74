"""F18 (R43): Twilio signs the exact URL it calls; a webhook URL with `%20`, `+`, repeated or unsorted parameters,
reserved or non-ASCII characters verifies, however API Gateway's REST event decoded and reordered its query.

Signatures come from Twilio's own SDK (`twilio.request_validator.RequestValidator`), the events arrive as API
Gateway's REST proxy event carries them (decoded `multiValueQueryStringParameters`, names in another order) and as
the local gateway builds them from the raw request line; a wrong token, a changed parameter or body is still 401.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from functions.carrier_events import handler as carrier_events
from local import gateway
from switchboard import settings as platform_settings
from switchboard.carriers import registry
from switchboard.crypto import secret_store
from tests.integration.conftest import Context, _handlers_run_as_deployed, aws, rest_event
from tests.integration.messaging.conftest import queues

__all__ = ["_handlers_run_as_deployed", "aws", "queues"]  # fixtures

TOKEN = "twilio-test-token"
PATH = "/v1/carriers/twilio/events"
FORM = "application/x-www-form-urlencoded"
# A status callback for a message we do not know: verified, then answered 200 {"received": 1} and ignored.
PARAMS = [("MessageSid", "SM" + "b" * 32), ("MessageStatus", "delivered"), ("AccountSid", "AC" + "1" * 32)]


class MultiDict(dict[str, list[str]]):
    """The repeated-name form Twilio's validator reads (`getall`, like Flask's MultiDict)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _multi(pairs: list[tuple[str, str]]) -> MultiDict:
    found = MultiDict()
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return found


@pytest.fixture
def twilio_token(queues: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    arn = boto3.client("secretsmanager").create_secret(
        Name="twilio", SecretString=json.dumps({"account_sid": "AC" + "1" * 32, "auth_token": TOKEN})
    )["ARN"]
    monkeypatch.setenv("TWILIO_CREDENTIALS_SECRET", arn)
    platform_settings.reload()
    secret_store.forget()
    registry.forget()
    yield TOKEN
    registry.forget()


def _base() -> str:
    return platform_settings.get().public_base_url.rstrip("/") + PATH


def _sign(url: str, params: list[tuple[str, str]], token: str = TOKEN) -> str:
    """What Twilio puts in X-Twilio-Signature for a POST to `url` (its SDK's own computation)."""
    signature: str = RequestValidator(token).compute_signature(url, _multi(params))
    return signature


def _rest_event(raw_query: str, params: list[tuple[str, str]], signature: str, *, reverse: bool) -> dict[str, Any]:
    """API Gateway's REST proxy event for a POST to PATH?raw_query: the query decoded, its names reordered."""
    event = rest_event("POST", PATH, urlencode(params))
    event["headers"] = {"Content-Type": FORM, "X-Twilio-Signature": signature}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        multi.setdefault(name, []).append(value)
    if reverse:  # API Gateway does not keep the order of the names
        multi = dict(reversed(multi.items()))
    event["multiValueQueryStringParameters"] = multi or None
    event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} or None
    return event


def _answer(event: dict[str, Any]) -> tuple[int, Any]:
    result = carrier_events.lambda_handler(event, Context())
    return result["statusCode"], json.loads(result["body"])


RAW_QUERIES = [
    "",
    "name=Jane%20Doe",
    "name=Jane+Doe",
    "a=1&a=2&b=3",
    "b=3&a=1&a=2",
    "tag=x&id=7&tag=y",
    "q=a%2Bb%26c%3Dd%25",
    "city=K%C3%B6ln&emoji=%F0%9F%98%80",
    "path=/a/b&at=x@y&list=1,2",
    "note=two%20%20spaces&empty=",
    "z=1&y=2&x=3&w=4&v=5",
]


def test_twilio_signature_over_the_url_as_called_verifies(twilio_token: str) -> None:
    for raw_query in RAW_QUERIES:  # one moto account for the class (its setup costs seconds)
        _verifies(raw_query)


def _verifies(raw_query: str) -> None:
    url = _base() + (f"?{raw_query}" if raw_query else "")
    parts = urlsplit(url)
    ported = parts._replace(netloc=f"{parts.hostname}:{parts.port or 443}").geturl()
    for port_url in (url, ported):  # Twilio signs some requests with the default port in the URL
        signature = _sign(port_url, PARAMS)
        assert RequestValidator(TOKEN).validate(port_url, _multi(PARAMS), signature)  # Twilio's own check agrees
        for reverse in (False, True):
            status, body = _answer(_rest_event(raw_query, PARAMS, signature, reverse=reverse))
            assert (status, body) == (200, {"received": 1}), (raw_query, reverse, body)
    # The same request through the local gateway, built from the raw request line as API Gateway would.
    target = PATH + (f"?{raw_query}" if raw_query else "")
    request = gateway.Request(
        method="POST",
        target=target,
        headers=[("Content-Type", FORM), ("X-Twilio-Signature", _sign(url, PARAMS))],
        body=urlencode(PARAMS).encode(),
    )
    event = gateway.proxy_event(request, "/v1/carriers/{carrier}/events", {"carrier": "twilio"}, 8080)
    assert _answer(event) == (200, {"received": 1}), raw_query


def test_twilio_signature_that_does_not_match_is_401(twilio_token: str) -> None:
    for raw_query in RAW_QUERIES:
        _refused(raw_query)


def _refused(raw_query: str) -> None:
    url = _base() + (f"?{raw_query}" if raw_query else "")
    forged = [
        _sign(url, PARAMS, token="not-the-token"),
        _sign(url + ("&" if raw_query else "?") + "extra=1", PARAMS),  # signed for another URL
        _sign(url, [*PARAMS[:-1], ("AccountSid", "AC" + "2" * 32)]),  # signed for other parameters
        _sign(url.replace("/v1/", "/v2/"), PARAMS),
        "",
    ]
    for signature in forged:
        status, body = _answer(_rest_event(raw_query, PARAMS, signature, reverse=False))
        assert (status, body["code"]) == (401, "invalid_signature"), (raw_query, signature)


def test_repeated_post_parameters_verify_as_twilios_validator_sorts_them(twilio_token: str) -> None:
    params = [*PARAMS, ("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered")]
    url = _base() + "?a=1&a=2"
    status, body = _answer(_rest_event("a=1&a=2", params, _sign(url, params), reverse=True))
    assert (status, body) == (200, {"received": 1})


NAMES = st.sampled_from(["a", "b", "To", "from", "x_y", "n%"])
VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=5),
    plus=st.booleans(),
    reverse=st.booleans(),
)
def test_any_query_of_up_to_five_parameters_verifies_in_either_encoding(
    twilio_token: str, pairs: list[tuple[str, str]], plus: bool, reverse: bool
) -> None:
    encode = quote_plus if plus else quote
    raw_query = "&".join(f"{encode(n, safe='')}={encode(v, safe='')}" for n, v in pairs)
    url = f"{_base()}?{raw_query}"
    status, body = _answer(_rest_event(raw_query, PARAMS, _sign(url, PARAMS), reverse=reverse))
    assert (status, body) == (200, {"received": 1}), raw_query
    status, _ = _answer(_rest_event(raw_query, PARAMS, _sign(url, PARAMS, token="wrong"), reverse=reverse))
    assert status == 401

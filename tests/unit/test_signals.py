"""Operational signals (switchboard.signals): what each path emits, above all what a refused credential does not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard import api, catalog, settings, signals
from switchboard.crypto import tokens
from switchboard.logic import authorizer, sessions
from switchboard.models.errors import RateLimited
from tests.lambda_context import Context

AUTHORIZER_ENV = {"STAGE": "dev", "POWERTOOLS_SERVICE_NAME": "authorizer"}
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/live/GET/v1/me"


def emitted(output: str) -> list[dict[str, Any]]:
    """The EMF records among stdout's lines (the logger writes JSON lines there too)."""
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if "_aws" in record]


def names(output: str) -> list[str]:
    """The metric names of every EMF record, in order."""
    return [m["Name"] for record in emitted(output) for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]


def _authorizer_event(authorization: str | None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "multiValueHeaders": {}}


def test_a_signal_is_one_record_under_the_function_and_under_the_whole_stage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with settings.scope(AUTHORIZER_ENV):
        signals.count(signals.LOGINS_FAILED)
    (record,) = emitted(capsys.readouterr().out)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Switchboard"
    # Two dimension sets: per function (what failed) and per stage (the one series stage-wide alarms watch).
    assert directive["Dimensions"] == [["service"], ["stage"]]
    assert directive["Metrics"] == [{"Name": "LoginsFailed", "Unit": "Count"}]
    assert (record["service"], record["stage"], record["LoginsFailed"]) == ("authorizer", "dev", [1.0])


@pytest.mark.parametrize("authorization", [None, "", "Basic abc", "Bearer garbage", "Bearer sb_other_prefix"])
def test_a_refused_credential_never_emits_the_metric_the_authorizer_alarm_watches(
    authorization: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with settings.scope(AUTHORIZER_ENV), pytest.raises(authorizer.Denied, match=r"^Unauthorized$"):
        authorizer.authorize(_authorizer_event(authorization))
    emitted_names = names(capsys.readouterr().out)
    # Still the 401 API Gateway needs (the exception's message), counted as expected traffic only.
    assert emitted_names == [signals.CREDENTIALS_REFUSED]
    assert signals.AUTHORIZER_INTERNAL_ERRORS not in emitted_names


def test_an_authorizer_failure_emits_its_internal_error_metric_and_still_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("a bug in the credential check")

    monkeypatch.setattr(sessions, "resolve", broken)
    with settings.scope(AUTHORIZER_ENV), pytest.raises(KeyError):
        authorizer.authorize(_authorizer_event(f"Bearer {tokens.SESSION_PREFIX}abc"))
    assert names(capsys.readouterr().out) == [signals.AUTHORIZER_INTERNAL_ERRORS]


def test_a_refusal_the_handlers_answer_as_400_emits_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    event = _authorizer_event("Bearer x") | {"queryStringParameters": {"api_key": "sb_live_x"}}
    with settings.scope(AUTHORIZER_ENV):
        decision = authorizer.authorize(event)
    assert decision["context"]["refusal"]
    assert names(capsys.readouterr().out) == []


app = api.build_resolver(
    routes=[
        catalog.Route("GET", "/v1/boom", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/limited", catalog.Auth.PUBLIC, "test route", permission=None),
        catalog.Route("GET", "/v1/fine", catalog.Auth.PUBLIC, "test route", permission=None),
    ]
)


@app.get("/v1/boom")
def boom() -> None:
    raise RuntimeError("a bug")


@app.get("/v1/limited")
def limited() -> None:
    raise RateLimited("Slow down.", retry_after_s=3)


@app.get("/v1/fine")
def fine() -> dict[str, str]:
    return {"ok": "yes"}


def _call(path: str) -> dict[str, Any]:
    event = {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "requestContext": {"requestId": "req-1", "stage": "live", "identity": {"sourceIp": "203.0.113.9"}},
        "body": None,
        "isBase64Encoded": False,
    }
    with settings.scope({"STAGE": "dev", "POWERTOOLS_SERVICE_NAME": "account_api"}):
        return api.handle(app, event, Context())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        ("/v1/boom", 500, [signals.INTERNAL_ERRORS]),
        ("/v1/limited", 429, [signals.RATE_LIMITED]),
        ("/v1/fine", 200, []),
        ("/v1/nothing-here", 404, []),
    ],
)
def test_handlers_count_their_500s_and_429s_only(
    path: str, status: int, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _call(path)["statusCode"] == status
    output = capsys.readouterr().out
    assert names(output) == expected
    for record in emitted(output):
        assert (record["service"], record["stage"]) == ("account_api", "dev")

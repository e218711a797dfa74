"""Failed logins and refused credentials are counted as signals; neither is an authorizer error (docs/alarms.md)."""

from __future__ import annotations

import json

import pytest

from functions.authorizer import handler as authorizer_handler
from switchboard import signals
from tests.integration.conftest import Context
from tests.integration.identity.support import authorizer_event, login, register


def records(output: str) -> list[dict[str, object]]:
    """The EMF records on stdout, one per metric name."""
    found = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in found if "_aws" in record]


def names(output: str) -> list[str]:
    return [m["Name"] for r in records(output) for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]  # type: ignore[index,union-attr]


def test_a_wrong_password_is_one_login_failure_of_identity_api(
    identity: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    register("jane@example.com")
    capsys.readouterr()
    assert login("jane@example.com", "not the password at all").status == 401
    output = capsys.readouterr().out
    assert names(output).count(signals.LOGINS_FAILED) == 1
    (record,) = [r for r in records(output) if signals.LOGINS_FAILED in r]
    assert (record["service"], record["stage"]) == ("identity_api", "local")


def test_an_unknown_email_counts_and_a_good_login_does_not(
    identity: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    register("jane@example.com")
    capsys.readouterr()
    assert login("nobody@example.com").status == 401
    assert names(capsys.readouterr().out).count(signals.LOGINS_FAILED) == 1
    assert login("jane@example.com").status == 201
    assert signals.LOGINS_FAILED not in names(capsys.readouterr().out)


@pytest.mark.parametrize("token", [None, "sbs_unknown", "sb_live_nothing"])
def test_the_deployed_authorizer_refuses_with_401_and_emits_only_the_refusal(
    identity: dict[str, str], token: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer_handler.lambda_handler(authorizer_event("GET", "/v1/me", token), Context())
    emitted = names(capsys.readouterr().out)
    assert signals.CREDENTIALS_REFUSED in emitted
    assert signals.AUTHORIZER_INTERNAL_ERRORS not in emitted

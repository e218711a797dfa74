"""Signals emitted by the purge job, the carrier circuit breaker and the mail sender (docs/alarms.md)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.purge_job import handler as purge_handler
from switchboard import mail, settings, signals
from switchboard.carriers.circuit import Breaker
from switchboard.dal import clients
from tests.integration.conftest import Context


def names(output: str) -> list[str]:
    """Metric names of the EMF records on stdout."""
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [
        metric["Name"]
        for record in records
        if "_aws" in record
        for directive in record["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    ]


def test_a_finished_purge_run_emits_the_success_signal_its_missing_alarm_waits_for(
    aws: dict[str, str], context: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    purge_handler.lambda_handler({}, context)
    assert names(capsys.readouterr().out).count(signals.PURGE_RUNS_SUCCEEDED) == 1


def test_a_failed_purge_run_emits_no_success_signal(
    aws: dict[str, str], context: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("dynamodb").delete_table(TableName=aws["MESSAGING_TABLE"])  # the run cannot do its work
    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises, the run fails
        purge_handler.lambda_handler({}, context)
    assert signals.PURGE_RUNS_SUCCEEDED not in names(capsys.readouterr().out)


def test_a_circuit_emits_one_signal_when_it_opens_and_none_before(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    breaker = Breaker(failures_to_open=3)
    breaker.failure("twilio")
    breaker.failure("twilio")
    assert signals.CIRCUITS_OPENED not in names(capsys.readouterr().out)
    breaker.failure("twilio")
    assert not breaker.allow("twilio")
    assert names(capsys.readouterr().out) == [signals.CIRCUITS_OPENED]


def test_deployed_mail_names_the_stage_configuration_set_and_local_mail_none(aws: dict[str, str]) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@switchboard.example")
    boto3.client("ses").create_configuration_set(ConfigurationSet={"Name": "switchboard-dev"})
    sent: list[dict[str, Any]] = []
    clients.client("ses").meta.events.register(
        "provide-client-params.ses.SendEmail", lambda params, **_: sent.append(dict(params))
    )
    email = mail.Email(to="jane@example.com", subject="Hi", body="Hello")
    mail.deliver(email)
    env = {"STAGE": "local", "MAIL_CONFIGURATION_SET": "switchboard-dev"}
    with settings.scope(env):
        mail.deliver(email)
    assert "ConfigurationSetName" not in sent[0]
    assert sent[1]["ConfigurationSetName"] == "switchboard-dev"

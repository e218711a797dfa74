"""Handlers under moto: every table of the catalog exists, env vars point at it, the clock starts fresh.

The process environment names every resource (test setup writes through the dal directly); each handler runs with
only its own function's variables, as deployed (local.lambdas.as_deployed), so a missing grant fails here too.
"""

import importlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import lambdas, provision
from switchboard import catalog, clock, settings
from switchboard.crypto import envelope
from switchboard.dal import clients
from tests.lambda_context import Context


@pytest.fixture(autouse=True)
def _handlers_run_as_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    for code in sorted({fn.code for fn in catalog.FUNCTIONS}):
        module = importlib.import_module(f"functions.{code}.handler")
        monkeypatch.setattr(module, "lambda_handler", lambdas.as_deployed(code, module.lambda_handler))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A moto account with every catalog table; yields env var -> table name."""
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SwitchboardTest")
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("LOGIN_FAILURE_FLOOR_MS", "0")  # test_login_timing sets its own floor
    names = {t.env: f"test-{t.id}" for t in catalog.TABLES}
    for env, name in names.items():
        monkeypatch.setenv(env, name)
    with mock_aws():
        clients.reset()
        settings.reload()
        clock.reset()
        # The same CreateTable requests (and TTL) as the local stack, so tests and `make dev` cannot drift.
        requests = [provision.create_table_request(spec, names[spec.env]) for spec in catalog.TABLES]
        provision.create_tables(boto3.client("dynamodb"), requests, catalog.TABLES)
        key_id = boto3.client("kms").create_key(Description="switchboard data key")["KeyMetadata"]["KeyId"]
        monkeypatch.setenv("DATA_KEY_ID", key_id)
        bucket = provision.anchor_bucket_name()
        monkeypatch.setenv("AUDIT_ANCHOR_BUCKET", bucket)
        monkeypatch.setenv(
            "AUDIT_MAC_KEY_ID", provision.create_audit_resources(boto3.client("kms"), boto3.client("s3"), bucket)
        )
        monkeypatch.setenv("RECEIPT_KEY_ID", provision.create_receipt_key(boto3.client("kms")))
        for spec in catalog.BUCKETS:
            provision.create_bucket(boto3.client("s3"), provision.bucket_name(spec))
            monkeypatch.setenv(spec.env, provision.bucket_name(spec))
        # Platform e-mail goes through its queue everywhere (tests.integration.mailbox runs mail_worker on it).
        sqs = boto3.client("sqs")
        mail_queue = catalog.queue("Mail")
        urls = {r["QueueName"]: sqs.create_queue(**r)["QueueUrl"] for r in provision.queue_requests([mail_queue])}
        monkeypatch.setenv(mail_queue.env, urls[provision.queue_name(mail_queue)])
        settings.reload()
        yield names
        envelope.forget_cached_keys()
    clients.reset()
    clock.reset()
    for env in names:
        os.environ.pop(env, None)
    settings.reload()


@pytest.fixture
def context() -> Context:
    return Context()


def rest_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    """An API Gateway REST proxy event as the deployed API sends it."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "it-request",
            "stage": "live",
            "resourcePath": path,
            "httpMethod": method,
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "pytest"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def set_account_status(account_id: str, status: str) -> None:
    """Store a status on an existing account, as an operator (or the closure job) would."""
    from switchboard.dal.accounts import ACCOUNT_SK, AccountItem  # noqa: PLC0415 - only the tests that suspend
    from switchboard.dal.keys import account_pk  # noqa: PLC0415

    AccountItem(account_pk(account_id), ACCOUNT_SK).update(
        actions=[AccountItem.status.set(status)], condition=AccountItem.pk.exists()
    )

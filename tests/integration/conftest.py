"""Handlers under moto: every table of the catalog exists, env vars point at it, the clock starts fresh."""

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import catalog
from switchboard import clock, settings
from switchboard.crypto import envelope
from switchboard.dal import clients


class Context:
    """The parts of LambdaContext that Powertools reads."""

    function_name = "test-function"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def create_table(client: Any, spec: catalog.Table, name: str) -> None:
    """Create one catalog table in moto, keys and indexes as CDK declares them."""

    def key_schema(partition: str, sort: str) -> list[dict[str, str]]:
        return [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]

    keys = {spec.partition_key, spec.sort_key} | {k for i in spec.indexes for k in (i.partition_key, i.sort_key)}
    kwargs: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": key_schema(spec.partition_key, spec.sort_key),
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": i.name,
                "KeySchema": key_schema(i.partition_key, i.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in spec.indexes
        ]
    client.create_table(**kwargs)


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
    names = {t.env: f"test-{t.id}" for t in catalog.TABLES}
    for env, name in names.items():
        monkeypatch.setenv(env, name)
    with mock_aws():
        clients.reset()
        settings.reload()
        clock.reset()
        dynamodb = boto3.client("dynamodb")
        for spec in catalog.TABLES:
            create_table(dynamodb, spec, names[spec.env])
        key_id = boto3.client("kms").create_key(Description="switchboard data key")["KeyMetadata"]["KeyId"]
        monkeypatch.setenv("DATA_KEY_ID", key_id)
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

"""Provisioning creates every catalog table, queue, key, secret and sender identity in a moto server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local import provision
from switchboard import catalog


@pytest.fixture(scope="module")
def created() -> Iterator[tuple[provision.Provisioned, Any]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=provision.REGION
    )
    try:
        result = provision.provision(endpoint_url=endpoint, public_base_url="http://127.0.0.1:8080")
        yield result, lambda service: session.client(service, endpoint_url=endpoint)
    finally:
        server.stop()


def test_provision_creates_every_table_with_keys_indexes_and_ttl(created: tuple[provision.Provisioned, Any]) -> None:
    result, client = created
    dynamodb = client("dynamodb")
    for spec in catalog.TABLES:
        name = result.env[spec.env]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        assert keys == [(spec.partition_key, "HASH"), (spec.sort_key, "RANGE")]
        indexes = {
            i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]]
            for i in table.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {i.name: [i.partition_key, i.sort_key] for i in spec.indexes}
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec.ttl_attribute)


def test_provision_creates_every_queue_with_its_dead_letter_queue(created: tuple[provision.Provisioned, Any]) -> None:
    result, client = created
    sqs = client("sqs")
    for spec in catalog.QUEUES:
        assert result.env[spec.env] == result.queue_urls[spec.id]
        attributes = sqs.get_queue_attributes(QueueUrl=result.queue_urls[spec.id], AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == str(spec.visibility_timeout_s)
        redrive = json.loads(attributes["RedrivePolicy"])
        dlq = sqs.get_queue_attributes(QueueUrl=result.dlq_urls[spec.id], AttributeNames=["QueueArn"])["Attributes"]
        assert redrive == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": spec.max_receive_count}


def test_provision_creates_secrets_with_random_generated_keys(created: tuple[provision.Provisioned, Any]) -> None:
    result, client = created
    manager = client("secretsmanager")
    for spec in catalog.SECRETS:
        value = json.loads(manager.get_secret_value(SecretId=result.env[spec.env])["SecretString"])
        if spec.generated_keys:
            assert set(value) == set(spec.generated_keys)
            assert all(len(base64.urlsafe_b64decode(v)) == 32 for v in value.values())
            assert len(set(value.values())) == len(value)
        else:
            assert set(value) - {"phone_number_ids"} == set(provision.CARRIER_SECRET_KEYS[spec.id])
            assert all(v.startswith("placeholder-") for k, v in value.items() if k != "phone_number_ids")


def test_provision_sets_the_deployed_environment(created: tuple[provision.Provisioned, Any]) -> None:
    result, client = created
    env = result.env
    expected = {t.env for t in catalog.TABLES} | {q.env for q in catalog.QUEUES} | {s.env for s in catalog.SECRETS}
    assert expected <= set(env)
    assert env["STAGE"] == "local"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8080"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    key = client("kms").describe_key(KeyId=env["DATA_KEY_ID"])["KeyMetadata"]
    assert key["Enabled"] is True
    assert "no-reply@switchboard.example" in client("ses").list_identities()["Identities"]


def test_queue_requests_put_each_dead_letter_queue_before_its_queue() -> None:
    names = [r["QueueName"] for r in provision.queue_requests()]
    for spec in catalog.QUEUES:
        assert names.index(provision.queue_name(spec, dead_letter=True)) + 1 == names.index(provision.queue_name(spec))

"""The secret seeder fills missing generated keys with fresh 256-bit values and never overwrites or reveals one."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.seeder import index
from switchboard import catalog


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


def _event(request_type: str, secret_id: str, keys: list[str]) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/Switchboard-dev-Data/1",
        "RequestId": "req-1",
        "LogicalResourceId": "SecretsPeppersSeed",
        "ResourceProperties": {"SecretId": secret_id, "Keys": keys},
    }


def test_seeder_fills_missing_keys_with_256_bit_base64url(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="peppers", SecretString="{}")["ARN"]
    response = index.handle(_event("Create", arn, ["password_v1", "api_key_v1"]), secretsmanager)
    assert response["Status"] == "SUCCESS"
    value = json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
    assert set(value) == {"password_v1", "api_key_v1"}
    for encoded in value.values():
        assert len(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))) == 32
    assert value["password_v1"] != value["api_key_v1"]
    # CloudFormation learns which keys were added, never their values.
    assert all(secret not in json.dumps(response) for secret in value.values())


def test_seeder_never_overwrites_existing_keys(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="peppers", SecretString=json.dumps({"password_v1": "kept"}))["ARN"]
    response = index.handle(_event("Update", arn, ["password_v1", "blind_index_v1"]), secretsmanager)
    assert response["Data"] == {"Added": "blind_index_v1"}
    value = json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
    assert value["password_v1"] == "kept"
    assert len(value["blind_index_v1"]) >= 43
    versions = secretsmanager.list_secret_version_ids(SecretId=arn)["Versions"]
    index.handle(_event("Update", arn, ["password_v1", "blind_index_v1"]), secretsmanager)
    assert secretsmanager.list_secret_version_ids(SecretId=arn)["Versions"] == versions  # nothing to add: no write


def test_seeder_delete_leaves_the_secret_alone(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="peppers", SecretString=json.dumps({"password_v1": "kept"}))["ARN"]
    response = index.handle(_event("Delete", arn, ["password_v1"]), secretsmanager)
    assert response["Status"] == "SUCCESS"
    assert json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"]) == {"password_v1": "kept"}


def test_seeder_reports_failure_to_cloudformation_instead_of_raising(secretsmanager: Any) -> None:
    arn = secretsmanager.create_secret(Name="switchboard/dev/Peppers", SecretString="[1, 2]")["ARN"]
    response = index.handle(_event("Create", arn, ["password_v1"]), secretsmanager)
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("ValueError")


@pytest.mark.parametrize("spec", [s for s in catalog.SECRETS if s.generated_keys], ids=lambda s: s.id)
def test_seeder_seeds_every_generated_secret_of_the_catalog(secretsmanager: Any, spec: catalog.Secret) -> None:
    arn = secretsmanager.create_secret(Name=f"switchboard/dev/{spec.id}", SecretString="{}")["ARN"]
    response = index.handle(_event("Create", arn, list(spec.generated_keys)), secretsmanager)
    assert response["Data"] == {"Added": ",".join(spec.generated_keys)}
    assert set(json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])) == set(spec.generated_keys)

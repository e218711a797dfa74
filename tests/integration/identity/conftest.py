"""Identity tests: peppers in Secrets Manager and a verified SES sender on top of the moto account."""

import json
import secrets as pysecrets
from collections.abc import Iterator

import boto3
import pytest

from switchboard import settings
from switchboard.crypto import secret_store
from tests.integration.messaging.conftest import queues  # noqa: F401 - a fixture: the role matrix sends messages
from tests.integration.webhooks.conftest import listener  # noqa: F401 - a fixture: the send path's webhooks


@pytest.fixture
def identity(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Peppers in Secrets Manager and a verified SES sender on top of the moto account."""
    peppers = {name: pysecrets.token_urlsafe(32) for name in ("password_v1", "api_key_v1", "blind_index_v1")}
    arn = boto3.client("secretsmanager").create_secret(Name="peppers", SecretString=json.dumps(peppers))["ARN"]
    monkeypatch.setenv("PEPPERS_SECRET", arn)
    settings.reload()
    secret_store.forget()
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@switchboard.example")
    yield peppers
    secret_store.forget()

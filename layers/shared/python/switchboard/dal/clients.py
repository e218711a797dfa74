"""AWS clients, built on first use so tests and the local stack can point them anywhere (AWS_ENDPOINT_URL)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


@cache
def _client(service: str) -> Any:
    # botocore alone: boto3's package (resources, s3transfer) would add ~0.3 s to every cold start for nothing here.
    import botocore.session  # noqa: PLC0415 - only functions that touch AWS pay for it, on first use

    return botocore.session.get_session().create_client(service)


def client(service: str) -> Any:
    """The boto3 client for `service` of this process."""
    return _client(service)


def dynamodb() -> DynamoDBClient:
    """The DynamoDB client of this process."""
    client: DynamoDBClient = _client("dynamodb")
    return client


def reset() -> None:
    """Forget every client (tests that switch endpoints or credentials)."""
    _client.cache_clear()


def conditional_failed(error: Exception) -> bool:
    """True when a DynamoDB write lost its condition (botocore's ClientError or PynamoDB's wrapped errors)."""
    code = getattr(error, "cause_response_code", None)
    if code is None:
        response = getattr(error, "response", None) or {}
        code = response.get("Error", {}).get("Code")
    return code in _CONDITION_CODES

"""AWS clients, built on first use so tests and the local stack can point them anywhere (AWS_ENDPOINT_URL)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@cache
def _client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - boto3 costs ~0.8 s to import; only functions that touch AWS pay it

    return boto3.session.Session().client(service)  # type: ignore[call-overload]


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

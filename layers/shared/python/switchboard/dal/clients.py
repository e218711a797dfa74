"""AWS clients, built on first use so tests and the local stack can point them anywhere (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# Error codes of a moment's trouble on AWS's side (throttling, an internal error, a key KMS cannot use right now):
# the request may succeed when retried. DynamoDB, KMS, SQS (JSON and query protocols), Secrets Manager, SES.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "DisabledException",
        "KeyUnavailableException",
        "KmsThrottled",
        "KmsDisabled",
        "KMS.ThrottlingException",
        "KMS.DisabledException",
        "KMS.KMSInternalException",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)


@cache
def _client(service: str) -> Any:
    # botocore alone: boto3's package (resources, s3transfer) would add ~0.3 s to every cold start for nothing here.
    import botocore.session  # noqa: PLC0415 - only functions that touch AWS pay for it, on first use
    from botocore.config import Config  # noqa: PLC0415

    # S3 presigns with SigV4 (botocore's default presigner is SigV2, which signs neither the length nor the type of
    # an upload and which SSE-KMS objects refuse).
    config = Config(signature_version="s3v4") if service == "s3" else None
    return botocore.session.get_session().create_client(service, config=config)


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


def _code_and_status(error: BaseException) -> tuple[str | None, int]:
    code = getattr(error, "cause_response_code", None)  # PynamoDB's wrapped errors
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        cause = getattr(error, "cause", None)
        response = getattr(cause, "response", None) if cause is not None else None
    response = response if isinstance(response, dict) else {}
    code = code or response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code, int(status)


def transient(error: BaseException) -> bool:
    """True when `error` (or what caused it) is AWS throttling or failing for a moment: retrying may succeed.

    Covers botocore's ClientError (any 5xx, or a throttling/internal/KMS-availability code), PynamoDB's wrapped
    errors (their `cause`), and botocore's connection and read timeouts. Never imports botocore.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code, status = _code_and_status(current)
        if code in _TRANSIENT_CODES or status >= 500:
            return True
        exceptions = sys.modules.get("botocore.exceptions")
        if exceptions is not None and isinstance(current, (exceptions.ConnectionError, exceptions.HTTPClientError)):
            return True
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else (current.__cause__ or current.__context__)
    return False


def conditional_failed(error: Exception) -> bool:
    """True when a DynamoDB write lost its condition (botocore's ClientError or PynamoDB's wrapped errors)."""
    code = getattr(error, "cause_response_code", None)
    if code is None:
        response = getattr(error, "response", None) or {}
        code = response.get("Error", {}).get("Code")
    return code in _CONDITION_CODES

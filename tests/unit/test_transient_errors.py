"""Which AWS failures are transient (503 with Retry-After) and which are not (the classifier behind switchboard.api)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from pynamodb.exceptions import PutError, QueryError

from switchboard.dal import clients


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ProvisionedThroughputExceededException"),
        _client_error("ThrottlingException"),
        _client_error("KMSInternalException", 500),
        _client_error("DisabledException"),
        _client_error("SomethingNew", 503),
        PutError("put failed", cause=_client_error("ProvisionedThroughputExceededException")),
        QueryError("query failed", cause=_client_error("InternalServerError", 500)),
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://kms.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://sqs.eu-west-1.amazonaws.com"),
    ],
    ids=repr,
)
def test_throttling_internal_errors_unusable_keys_and_timeouts_are_transient(error: Exception) -> None:
    assert clients.transient(error)
    try:
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapped:
        assert clients.transient(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ConditionalCheckFailedException"),
        _client_error("ValidationException"),
        _client_error("AccessDeniedException"),
        _client_error("ResourceNotFoundException"),
        PutError("put failed", cause=_client_error("ValidationException")),
        ValueError("not AWS at all"),
    ],
    ids=repr,
)
def test_our_mistakes_and_refusals_are_not_transient(error: Exception) -> None:
    assert not clients.transient(error)

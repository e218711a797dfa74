"""A fault injector at the AWS client layer: chosen botocore calls fail as AWS fails them (ClientError by code).

Installed on botocore's client class for the duration of a `with injected(...)` block, so every client of the
process (ours, PynamoDB's) meets it; the error is the modeled exception class of that client and code, raised
where botocore raises a refused call, so everything above botocore (PynamoDB's wrapping, our mapping) is real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.client import BaseClient

from switchboard import settings

# (HTTP status, code) of the failures AWS documents for each case.
DYNAMODB_THROTTLED = (400, "ProvisionedThroughputExceededException")
DYNAMODB_THROTTLING = (400, "ThrottlingException")
DYNAMODB_INTERNAL = (500, "InternalServerError")
KMS_INTERNAL = (500, "KMSInternalException")
KMS_THROTTLING = (400, "ThrottlingException")
KMS_DISABLED = (400, "DisabledException")
SQS_INTERNAL = (500, "InternalError")
SQS_KMS_THROTTLED = (400, "KmsThrottled")


@dataclass
class Fault:
    """Calls of `service`.`operation` (any when None) that `when` accepts fail with `error`, `times` times at most."""

    service: str
    error: tuple[int, str]
    operation: str | None = None
    when: Callable[[str, dict[str, Any]], bool] | None = None  # (function running, api params) -> fail it?
    times: int | None = None
    hits: int = 0

    def matches(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if service != self.service or (self.operation is not None and operation != self.operation):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return self.when is None or self.when(current_function(), params)


def current_function() -> str:
    """The catalog function whose invocation is running (its settings scope), "" outside one."""
    scope = settings.current_scope()
    return scope.service if scope is not None else ""


def in_function(*names: str) -> Callable[[str, dict[str, Any]], bool]:
    """Only calls made by these functions (e.g. the route's function, not the authorizer before it)."""
    return lambda function, _: function in names


@contextmanager
def injected(*faults: Fault) -> Iterator[tuple[Fault, ...]]:
    """Make the matching AWS calls fail while the block runs; yields the faults (their `hits`)."""
    original = BaseClient._make_api_call

    def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        for fault in faults:
            if fault.matches(service, operation_name, api_params):
                fault.hits += 1
                status, code = fault.error
                response = {
                    "Error": {"Code": code, "Message": f"injected {code}"},
                    "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected"},
                }
                error_class: Any = self.exceptions.from_code(code)
                raise error_class(response, operation_name)
        return original(self, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", _make_api_call)
        yield faults

"""The gateway's static copy of the security headers equals the one the Lambda responses use."""

from infra.constructs.rest_api import SECURITY_HEADERS
from switchboard import api


def test_security_headers_gateway_copy_equals_lambda_headers() -> None:
    assert SECURITY_HEADERS == api.SECURITY_HEADERS

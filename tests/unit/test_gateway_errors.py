"""The gateway's own error answers are problem+json in the same shape as the handlers' errors."""

import json

from infra import gateway_errors
from switchboard import api


def test_gateway_errors_render_the_handlers_problem_shape() -> None:
    for error in gateway_errors.GATEWAY_ERRORS:
        body = json.loads(error.body("req-1"))
        handler_shape = api.problem(
            status=error.status, code=error.code, title=error.title, detail=error.detail, request_id="req-1"
        )
        assert body == handler_shape, error.response_type


def test_gateway_errors_unknown_route_is_404_not_403() -> None:
    assert gateway_errors.gateway_error("MISSING_AUTHENTICATION_TOKEN").status == 404


def test_gateway_errors_are_unique_and_deployed_body_keeps_the_variable() -> None:
    types = [e.response_type for e in gateway_errors.GATEWAY_ERRORS]
    assert len(types) == len(set(types))
    assert json.loads(gateway_errors.gateway_error("UNAUTHORIZED").body())["request_id"] == "$context.requestId"


def test_bad_request_body_says_why_deployed_and_locally_as_valid_problem_json() -> None:
    error = gateway_errors.gateway_error("BAD_REQUEST_BODY")
    deployed = json.loads(error.body())
    assert deployed["detail"].endswith(": $context.error.validationErrorString")
    reason = '[/email: fails pattern "^[^@\\s]+$"]'  # quotes and backslashes stay valid JSON
    local = json.loads(error.body("req-1", reason))
    assert local["detail"] == f"The request body does not match its schema: {reason}"
    assert (local["status"], local["code"], local["request_id"]) == (400, "invalid_body", "req-1")

"""API Gateway's own error answers as problem+json: the CDK stack and the local gateway both render them from here."""

from __future__ import annotations

import json
from dataclasses import dataclass

from switchboard.headers import PROBLEM_TYPE_BASE

# The placeholders the deployed gateway fills in; the local gateway substitutes its own values for the same ones.
REQUEST_ID_VARIABLE = "$context.requestId"
# What the request validator found wrong with a body (API Gateway's own wording, e.g. a missing property). A
# gateway response template is not VTL: simple substitution is all there is, so the text goes in `detail`.
VALIDATION_ERROR_VARIABLE = "$context.error.validationErrorString"


@dataclass(frozen=True)
class GatewayError:
    """One API Gateway response type (`AWS::ApiGateway::GatewayResponse`) and the problem it answers with."""

    response_type: str  # CloudFormation ResponseType
    status: int
    code: str
    title: str
    detail: str

    def body(self, request_id: str = REQUEST_ID_VARIABLE, validation_error: str = VALIDATION_ERROR_VARIABLE) -> str:
        """The problem document; deployed, `request_id` and `validation_error` stay the `$context` variables."""
        return json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + self.code,
                "title": self.title,
                "status": self.status,
                "detail": self.detail.replace(VALIDATION_ERROR_VARIABLE, validation_error),
                "code": self.code,
                "request_id": request_id,
            }
        )


# Problems that several response types answer with: (status, code, title, detail).
_NOT_FOUND = (404, "not_found", "Not found", "No route matches this method and path.")
_UNAUTHORIZED = (401, "unauthorized", "Unauthorized", "Send a valid session token or API key.")
_RATE_LIMITED = (429, "rate_limited", "Too many requests", "Slow down and retry after a moment.")
_INTERNAL_ERROR = (500, "internal_error", "Internal error", "Something went wrong on our side.")

GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    # REST APIs answer an unknown path or method with MISSING_AUTHENTICATION_TOKEN (403); callers expect 404.
    GatewayError("MISSING_AUTHENTICATION_TOKEN", *_NOT_FOUND),
    GatewayError("RESOURCE_NOT_FOUND", *_NOT_FOUND),
    GatewayError("UNAUTHORIZED", *_UNAUTHORIZED),
    GatewayError("ACCESS_DENIED", 403, "forbidden", "Forbidden", "These credentials may not call this route."),
    GatewayError("EXPIRED_TOKEN", 401, "unauthorized", "Unauthorized", "The credentials have expired."),
    GatewayError("WAF_FILTERED", 403, "request_blocked", "Request blocked", "The firewall refused this request."),
    GatewayError("THROTTLED", *_RATE_LIMITED),
    GatewayError("QUOTA_EXCEEDED", *_RATE_LIMITED),
    GatewayError(
        "BAD_REQUEST_BODY",
        400,
        "invalid_body",
        "Invalid body",
        f"The request body does not match its schema: {VALIDATION_ERROR_VARIABLE}",
    ),
    GatewayError(
        "BAD_REQUEST_PARAMETERS", 400, "invalid_parameters", "Invalid parameters", "A required parameter is missing."
    ),
    GatewayError("REQUEST_TOO_LARGE", 413, "payload_too_large", "Payload too large", "The request body is too large."),
    GatewayError(
        "UNSUPPORTED_MEDIA_TYPE", 415, "unsupported_media_type", "Unsupported media type", "Send application/json."
    ),
    GatewayError("AUTHORIZER_FAILURE", *_INTERNAL_ERROR),
    GatewayError("AUTHORIZER_CONFIGURATION_ERROR", *_INTERNAL_ERROR),
    GatewayError("INTEGRATION_FAILURE", 502, "bad_gateway", "Bad gateway", "The service failed to answer; retry."),
    GatewayError("INTEGRATION_TIMEOUT", 504, "gateway_timeout", "Gateway timeout", "The service took too long; retry."),
    GatewayError("INVALID_API_KEY", *_UNAUTHORIZED),
    GatewayError("INVALID_SIGNATURE", *_UNAUTHORIZED),
    GatewayError("API_CONFIGURATION_ERROR", *_INTERNAL_ERROR),
    # Every specific type is listed above, so the defaults only catch types AWS adds later.
    GatewayError("DEFAULT_4XX", 400, "bad_request", "Bad request", "The request was refused."),
    GatewayError("DEFAULT_5XX", *_INTERNAL_ERROR),
)


def gateway_error(response_type: str) -> GatewayError:
    """The definition for one response type."""
    return next(e for e in GATEWAY_ERRORS if e.response_type == response_type)


# Not an API Gateway response type: the answer of the catch-all method each resource has for the methods its
# routes do not name (a MOCK integration deployed, the local gateway alike), with `Allow` listing those that exist.
METHOD_NOT_ALLOWED = GatewayError(
    "METHOD_NOT_ALLOWED", 405, "method_not_allowed", "Method not allowed", "This path does not answer this method."
)

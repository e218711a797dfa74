"""Operator API (IAM-authorized, R68): the rotatable platform secrets' versions, and rotating one by version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, operators
from switchboard.models.operator_secrets import SecretList, SecretRotatedOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.get(
    "/ops/v1/secrets",
    summary="Rotatable platform secrets and their versions",
    tags=["operators"],
    responses=api.answers(200, SecretList, "Each secret's versions, newest first, with dates (never a value)"),
)
def list_secrets() -> Response[str]:
    """Names, versions and creation dates; never a value."""
    from switchboard.logic import secret_rotation  # noqa: PLC0415 - loaded with the first request

    operators.operator_of(app)
    return api.json_response(200, secret_rotation.listing_out())


@app.post(
    "/ops/v1/secrets/<secret>/rotate",
    summary="Rotate a pepper or HMAC key by version",
    tags=["operators"],
    responses=api.answers(
        201, SecretRotatedOut, "The new current version; older ones keep verifying", problems=(404, 409)
    ),
)
def rotate_secret(secret: str) -> Response[str]:
    """201 with the new version's name; an audit event in the platform trail."""
    from switchboard.logic import secret_rotation  # noqa: PLC0415

    operator = operators.operator_of(app)
    answer = secret_rotation.rotate_by(operator, secret, api.request_meta(app))
    return api.json_response(201, answer)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point (the operator API)."""
    return api.handle(app, event, context)

"""Public, unauthenticated routes: GET /v1/health, GET /status and GET /.well-known/security.txt."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.logic import security_txt
from switchboard.models.status import Health, StatusOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.get(
    "/v1/health",
    summary="Liveness of the API",
    tags=["public"],
    responses=api.answers(200, Health, "The API answers"),
)
def health() -> dict[str, str]:
    """The API answers."""
    return {"status": "ok"}


@app.get(
    "/status",
    summary="Platform status and incidents",
    tags=["public"],
    responses=api.answers(200, StatusOut, "Components, overall status and recent incidents"),
)
@tracer.capture_method
def get_status() -> StatusOut:
    """Components, overall status and recent incidents."""
    # PynamoDB and botocore load on the first /status, so cold starts that only answer /v1/health skip them.
    from switchboard.logic import status  # noqa: PLC0415

    return status.current()


@app.get(
    "/.well-known/security.txt",
    summary="RFC 9116 security contact",
    tags=["public"],
    responses=api.answers(200, {"type": "string"}, "RFC 9116 security.txt", media_type="text/plain"),
)
def get_security_txt() -> Response[str]:
    """Where to report a vulnerability."""
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=security_txt.render())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context, produces={"/.well-known/security.txt": frozenset({"text/plain"})})

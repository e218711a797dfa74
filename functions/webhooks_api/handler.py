"""Webhook endpoint routes: create (secret shown once), list, delete, rotate the secret, and the delivery log."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.webhooks import (
    DeliveryList,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    RotateSecretIn,
    SecretRotated,
)
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/v1/webhook-endpoints",
    summary="Create a webhook endpoint",
    tags=["webhooks"],
    responses=api.answers(201, EndpointCreated, "Created: the signing secret appears in this answer only"),
)
def create_endpoint(body: Annotated[EndpointIn, Body()]) -> Response[str]:
    """201 with the signing secret, shown this once."""
    from switchboard.logic import webhooks  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    principal, meta = api.caller(app)
    out: EndpointCreated = webhooks.create_endpoint(principal, body, meta)
    return api.json_response(201, out)


@app.get(
    "/v1/webhook-endpoints",
    summary="List webhook endpoints",
    tags=["webhooks"],
    responses=api.answers(200, EndpointList, "The endpoints (no secrets)"),
)
def list_endpoints(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.NextCursor = None,
) -> Response[str]:
    """Oldest first, paged; no secrets."""
    from switchboard.logic import webhooks  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: EndpointList = webhooks.list_endpoints(principal, limit, cursor)
    return api.json_response(200, out)


@app.delete(
    "/v1/webhook-endpoints/<endpoint_id>",
    summary="Delete a webhook endpoint",
    tags=["webhooks"],
    responses=api.answers(204, None, "Deleted", problems=(404,)),
)
def delete_endpoint(endpoint_id: str) -> Response[str]:
    """204; deliveries still queued for it are dropped."""
    from switchboard.logic import webhooks  # noqa: PLC0415

    principal, meta = api.caller(app)
    webhooks.delete_endpoint(principal, endpoint_id, meta)
    return api.no_content()


@app.get(
    "/v1/webhook-endpoints/<endpoint_id>/deliveries",
    summary="A webhook endpoint's delivery log",
    tags=["webhooks"],
    responses=api.answers(200, DeliveryList, "Delivery attempts, newest first", problems=(404,)),
)
def list_deliveries(
    endpoint_id: str,
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response[str]:
    """Every attempt, newest first: event, attempt, status code, outcome, duration, next retry."""
    from switchboard.logic import webhooks  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: DeliveryList = webhooks.list_deliveries(principal, endpoint_id, limit, cursor)
    return api.json_response(200, out)


@app.post(
    "/v1/webhook-endpoints/<endpoint_id>/rotate-secret",
    summary="Rotate a webhook endpoint's signing secret",
    tags=["webhooks"],
    responses=api.answers(
        200,
        SecretRotated,
        "The new signing secret, shown once; the old one signs beside it for grace_s",
        problems=(404, 409),
    ),
)
def rotate_secret(endpoint_id: str, body: Annotated[RotateSecretIn | None, Body()] = None) -> Response[str]:
    """200 with the new secret; deliveries carry both signatures for grace_s (default 24 h), then the new one's."""
    from switchboard.logic import webhooks  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: SecretRotated = webhooks.rotate_secret(principal, endpoint_id, body or RotateSecretIn(), meta)
    return api.json_response(200, out)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)

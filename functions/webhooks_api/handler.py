"""Webhook endpoint routes: create (secret shown once), list, delete, and each endpoint's delivery log."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from switchboard import api, auth
from switchboard.auth import Principal
from switchboard.logic import webhooks
from switchboard.models.request import RequestMeta
from switchboard.models.webhooks import DeliveryList, EndpointCreated, EndpointIn, EndpointList
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


def _caller() -> tuple[Principal, RequestMeta]:
    # A credential in the URL is refused before anything else happens (R27).
    event = app.current_event.raw_event
    auth.refuse_credentials_in_url(event)
    return Principal.from_event(event), RequestMeta.from_event(event)


def _json(status: int, model: BaseModel) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=model.model_dump_json())


@app.post("/v1/webhook-endpoints", summary="Create a webhook endpoint", tags=["webhooks"])
def create_endpoint(body: Annotated[EndpointIn, Body()]) -> Response[str]:
    """201 with the signing secret, shown this once."""
    principal, meta = _caller()
    out: EndpointCreated = webhooks.create_endpoint(principal, body, meta)
    return _json(201, out)


@app.get("/v1/webhook-endpoints", summary="List webhook endpoints", tags=["webhooks"])
def list_endpoints() -> Response[str]:
    """No secrets."""
    principal, _ = _caller()
    out: EndpointList = webhooks.list_endpoints(principal)
    return _json(200, out)


@app.delete("/v1/webhook-endpoints/<endpoint_id>", summary="Delete a webhook endpoint", tags=["webhooks"])
def delete_endpoint(endpoint_id: str) -> Response[str]:
    """204; deliveries still queued for it are dropped."""
    principal, meta = _caller()
    webhooks.delete_endpoint(principal, endpoint_id, meta)
    return Response(status_code=204, content_type="application/json", body="")


@app.get(
    "/v1/webhook-endpoints/<endpoint_id>/deliveries", summary="A webhook endpoint's delivery log", tags=["webhooks"]
)
def list_deliveries(
    endpoint_id: str,
    limit: Annotated[int, Query(ge=1, le=webhooks.MAX_PAGE)] = 25,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response[str]:
    """Every attempt, newest first: event, attempt, status code, outcome, duration, next retry."""
    principal, _ = _caller()
    out: DeliveryList = webhooks.list_deliveries(principal, endpoint_id, limit, cursor)
    return _json(200, out)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)

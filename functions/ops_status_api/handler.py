"""Operator API (IAM-authorized): open, update, resolve and list the incidents of the public status page."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, operators
from switchboard.models.status import (
    IncidentIn,
    IncidentList,
    IncidentOut,
    IncidentResolveIn,
    IncidentStatus,
    IncidentUpdateIn,
)
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/ops/v1/incidents",
    summary="Open an incident",
    tags=["operators"],
    responses=api.answers(201, IncidentOut, "Opened: it shows on GET /status at once"),
)
def open_incident(body: Annotated[IncidentIn, Body()]) -> Response[str]:
    """Open an incident on known components (audited in the platform trail)."""
    from switchboard.logic import incidents  # noqa: PLC0415 - PynamoDB loads with the first request

    opened = incidents.open_incident(operators.operator_of(app), body, api.request_meta(app))
    return api.json_response(201, opened)


@app.post(
    "/ops/v1/incidents/<incident_id>/updates",
    summary="Post an update on an incident",
    tags=["operators"],
    responses=api.answers(200, IncidentOut, "The incident with its new update", problems=(404, 409)),
)
def update_incident(incident_id: str, body: Annotated[IncidentUpdateIn, Body()]) -> Response[str]:
    """404 for an unknown incident, 409 once it is resolved."""
    return _changed(incident_id, body.status, body.body)


@app.post(
    "/ops/v1/incidents/<incident_id>/resolve",
    summary="Resolve an incident",
    tags=["operators"],
    responses=api.answers(200, IncidentOut, "The resolved incident", problems=(404, 409)),
)
def resolve_incident(incident_id: str, body: Annotated[IncidentResolveIn, Body()]) -> Response[str]:
    """404 for an unknown incident, 409 when it is resolved already."""
    return _changed(incident_id, "resolved", body.body)


def _changed(incident_id: str, status: IncidentStatus, note: str) -> Response[str]:
    from switchboard.logic import incidents  # noqa: PLC0415

    changed = incidents.change(operators.operator_of(app), incident_id, status, note, api.request_meta(app))
    return api.json_response(200, changed)


@app.get(
    "/ops/v1/incidents",
    summary="List incidents",
    tags=["operators"],
    responses=api.answers(200, IncidentList, "Every incident, newest first"),
)
def list_incidents() -> Response[str]:
    """Every incident, open and resolved, newest first."""
    from switchboard.logic import incidents  # noqa: PLC0415

    return api.json_response(200, IncidentList(data=incidents.list_incidents()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point (the operator API)."""
    return api.handle(app, event, context)

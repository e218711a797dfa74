"""Single-purpose media links: GET /v1/media/{token} serves one file of one message to the carrier it was minted for."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, catalog
from switchboard import files as rules
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()
LINK_PATH = "/v1/media/{token}"
# The proxy event's `resource` (what `produces` is keyed by): the path below the links API's mapping.
RESOURCE = catalog.api_resource(LINK_PATH)
PRODUCES = {RESOURCE: frozenset({*rules.MEDIA_TYPES, rules.OCTET_STREAM})}
_RESPONSES = api.binary_answers(
    PRODUCES[RESOURCE],
    {200: "The file (at most 4 MiB), inline, never cached"},
    problems={404: "Any link that is malformed, forged, expired or no longer valid: no detail"},
)


@app.get(
    "/v1/media/<token>", summary="A file sent with a message, for its carrier", tags=["public"], responses=_RESPONSES
)
def media_link(token: str) -> Response[str]:
    """A carrier fetches a file it was sent with a message; the link names that carrier and expires within an hour."""
    from switchboard.logic import media  # noqa: PLC0415 - botocore and the crypto stack load with the first request

    served = media.serve(token)
    metrics.add_metric(name="MediaLinksServed", unit="Count", value=1)
    return api.binary_response(200, served.body, content_type=served.content_type, headers=served.headers)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context, produces=PRODUCES)

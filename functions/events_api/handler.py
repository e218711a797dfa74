"""The account's event log: events after a cursor, by type, long-polled (`switchboard webhooks listen` reads it)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from switchboard import api
from switchboard.models.webhooks import EventList, EventOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()

MAX_WAIT_S = 20  # logic.events.MAX_WAIT_S (a unit test keeps them equal): the handler must not import the logic


def _digits(value: Any) -> Any:
    # As the query string carries it: " 1", "+1", "1_0" or "1.0" are not whole numbers of seconds.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "Input should be a whole number in digits")
    return value


After = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^(evt_[0-9a-hjkmnp-tv-z]{26}|now)$",
        description="An event id (`evt_…`, this account's, still kept): only events after it. `now`: only events "
        "newer than the newest one kept when the request comes. The previous answer's `next_cursor` goes here.",
    ),
]
Types = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Comma-separated event types (message.status, message.inbound, recipient.opted_out)",
    ),
]
Wait = Annotated[
    int,
    BeforeValidator(_digits),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S, "default": 0}),
    Query(ge=0, le=MAX_WAIT_S, description="Long-poll: with nothing newer, wait up to this many seconds (0-20)"),
]


@app.get(
    "/v1/events",
    summary="List the account's events (long-poll with ?wait=)",
    tags=["webhooks"],
    responses=api.answers(200, EventList, "Events after the cursor, oldest first", problems=(400, 410)),
)
def list_events(
    after: After = None,
    types: Types = None,
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    wait: Wait = 0,
) -> Response[str]:
    """Events strictly after `after`, oldest first, exactly as webhooks deliver them; `next_cursor` is the next
    call's `after`."""
    from switchboard.logic import events  # noqa: PLC0415 - PynamoDB and botocore load with the first request

    principal, _ = api.caller(app)
    out: EventList = events.list_events(principal, after=after, types=types, limit=limit, wait=wait)
    return api.json_response(200, out)


@app.get(
    "/v1/events/<event_id>",
    summary="Read one event",
    tags=["webhooks"],
    responses=api.answers(200, EventOut, "The event as webhooks deliver it", problems=(404,)),
)
def get_event(event_id: str) -> Response[str]:
    """One event of the account's log (kept 3 days)."""
    from switchboard.logic import events  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: EventOut = events.get_event(principal, event_id)
    return api.json_response(200, out)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)

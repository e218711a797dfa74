"""Messages and broadcasts: send, read the logs; the account's message templates."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.messages import (
    BroadcastIn,
    BroadcastOut,
    MessageCreated,
    MessageIn,
    MessageOut,
    MessagePage,
)
from switchboard.models.templates import TemplateIn, TemplateList, TemplateOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/v1/messages",
    summary="Send a message",
    tags=["messages"],
    responses=api.answers(
        202,
        MessageCreated,
        "Queued; `callback_secret` (only with a callback_url) is shown in this answer only",
        problems=(404,),
    ),
)
def send_message(body: Annotated[MessageIn, Body()]) -> Response[str]:
    """202 queued; 422 consent_required or template_required (nothing queued); 429 quota_exceeded."""
    from switchboard.logic import messages  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    principal, _ = api.caller(app)
    return api.json_response(202, messages.create(principal, body))


@app.get(
    "/v1/messages",
    summary="List messages",
    tags=["messages"],
    responses=api.answers(200, MessagePage, "A page of messages, newest first"),
)
def list_messages(
    *,
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.PageCursor = None,
    status: api.StatusFilter = None,
    channel: api.ChannelFilter = None,
    since: api.TimeFilter = None,
    until: api.TimeFilter = None,
) -> Response[str]:
    """Newest first; filters status, channel, since, until; viewers see masked numbers."""
    from switchboard.logic import messages  # noqa: PLC0415

    principal, _ = api.caller(app)
    page = messages.list_page(
        principal,
        limit=limit,
        cursor=cursor,
        status=status,
        channel=channel,
        since=since,
        until=until,
    )
    return api.json_response(200, page)


@app.get(
    "/v1/messages/<message_id>",
    summary="Read a message's log",
    tags=["messages"],
    responses=api.answers(200, MessageOut, "The message's log", problems=(404,)),
)
def read_message(message_id: str) -> Response[str]:
    """Status, carrier, attempts and events; viewers see a masked number and no body."""
    from switchboard.logic import messages  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, messages.read(principal, message_id))


@app.post(
    "/v1/messages/<message_id>/cancel",
    summary="Cancel a message not yet sent",
    tags=["messages"],
    responses=api.answers(
        200,
        MessageOut,
        "Canceled: it will never be handed to a carrier",
        problems={404: "", 409: "`message_not_cancelable`: already handed to a carrier, or ended"},
    ),
)
def cancel_message(message_id: str) -> Response[str]:
    """A queued or scheduled message becomes `canceled`; once a worker took it (or it ended) 409."""
    from switchboard.logic import messages  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, messages.cancel(principal, message_id))


@app.post(
    "/v1/broadcasts",
    summary="Send to a list",
    tags=["messages"],
    responses=api.answers(202, BroadcastOut, "Queued: counts accepted and skipped", problems=(404,)),
)
def send_broadcast(body: Annotated[BroadcastIn, Body()]) -> Response[str]:
    """202 with counts accepted and skipped (no consent; WhatsApp free-form text outside the 24-hour window)."""
    from switchboard.logic import broadcasts  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(202, broadcasts.create(principal, body))


@app.post(
    "/v1/templates",
    summary="Register a message template",
    tags=["templates"],
    responses=api.answers(
        201, TemplateOut, "Registered: approved in the sandbox, pending review deployed", problems=(409,)
    ),
)
def create_template(body: Annotated[TemplateIn, Body()]) -> Response[str]:
    """201; 409 template_exists for a name and language the account already has; 422 limit_exceeded."""
    from switchboard.logic import templates  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(201, templates.create(principal, body))


@app.get(
    "/v1/templates",
    summary="List message templates",
    tags=["templates"],
    responses=api.answers(200, TemplateList, "The account's templates, oldest first"),
)
def list_templates(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.NextCursor = None,
) -> Response[str]:
    """Oldest first, paged."""
    from switchboard.logic import templates  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, templates.list_page(principal, limit, cursor))


@app.get(
    "/v1/templates/<template_id>",
    summary="Read a message template",
    tags=["templates"],
    responses=api.answers(200, TemplateOut, "The template", problems=(404,)),
)
def read_template(template_id: str) -> Response[str]:
    """Its body, parameter count and status."""
    from switchboard.logic import templates  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, templates.read(principal, template_id))


@app.delete(
    "/v1/templates/<template_id>",
    summary="Delete a message template",
    tags=["templates"],
    responses=api.answers(204, None, "Deleted", problems=(404,)),
)
def delete_template(template_id: str) -> Response[str]:
    """204; later sends naming it are refused (422 template_not_approved)."""
    from switchboard.logic import templates  # noqa: PLC0415

    principal, _ = api.caller(app)
    templates.delete(principal, template_id)
    return api.no_content()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context)

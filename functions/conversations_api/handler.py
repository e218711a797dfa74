"""Conversations: recipients with recent activity, a recipient's timeline in both directions, agents' replies."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.conversations import ConversationPage, ReplyIn, TimelinePage
from switchboard.models.messages import MessageCreated
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.get(
    "/v1/conversations",
    summary="List conversations",
    tags=["conversations"],
    responses=api.answers(200, ConversationPage, "Recipients who wrote, newest activity first, with unread counts"),
)
def list_conversations(limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None) -> Response[str]:
    """Newest activity first; viewers see masked numbers."""
    from switchboard.logic import conversations  # noqa: PLC0415 - botocore loads with the first request, not the cold import

    principal, _ = api.caller(app)
    return api.json_response(200, conversations.list_page(principal, limit=limit, cursor=cursor))


@app.post(
    "/v1/conversations/<recipient_id>/read",
    summary="Mark a conversation read",
    tags=["conversations"],
    responses=api.answers(204, None, "Nothing of theirs is unread now", problems=(404,)),
)
def mark_read(recipient_id: str) -> Response[str]:
    """204; the unread count is 0 until they write again."""
    from switchboard.logic import conversations  # noqa: PLC0415

    principal, _ = api.caller(app)
    conversations.mark_read(principal, recipient_id)
    return api.no_content()


@app.get(
    "/v1/recipients/<recipient_id>/messages",
    summary="A recipient's messages",
    tags=["conversations"],
    responses=api.answers(200, TimelinePage, "Both directions, newest first", problems=(404,)),
)
def timeline(
    recipient_id: str, limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None
) -> Response[str]:
    """Ours and theirs in one timeline; viewers see no bodies."""
    from switchboard.logic import conversations  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, conversations.timeline(principal, recipient_id, limit=limit, cursor=cursor))


@app.post(
    "/v1/recipients/<recipient_id>/messages",
    summary="Reply to a recipient",
    tags=["conversations"],
    responses=api.answers(
        202,
        MessageCreated,
        "Queued, like POST /v1/messages",
        problems={
            404: "",
            409: "`recipient_opted_out`: they opted out on this channel",
            422: "`template_required` (WhatsApp) or `reply_window_closed`: they have not written on this channel "
            "within 24 hours",
        },
    ),
)
def reply(recipient_id: str, body: Annotated[ReplyIn, Body()]) -> Response[str]:
    """202 queued; needs no opt-in, only that they wrote on this channel within 24 hours."""
    from switchboard.logic import conversations  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(202, conversations.reply(principal, recipient_id, body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return api.handle(app, event, context)

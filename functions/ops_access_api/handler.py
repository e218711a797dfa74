"""Operator API (IAM-authorized, R34): break-glass access requests, their approval, and reads under a grant."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api, operators
from switchboard.models.break_glass import AccessRequestIn, AccessRequestOut, AccessRequestPage
from switchboard.models.messages import MessageOut, MessagePage
from switchboard.models.recipients import RecipientOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()

_DECIDED = "`access_request_not_pending`: approved, denied or expired already"


@app.post(
    "/ops/v1/access-requests",
    summary="Request access to an account's data",
    tags=["operators"],
    responses=api.answers(
        201,
        AccessRequestOut,
        "Pending: a second operator of the security role approves it within the hour",
        problems={404: "", 409: "`access_request_open`: the account has a request pending or a grant active"},
    ),
)
def request_access(body: Annotated[AccessRequestIn, Body()]) -> Response[str]:
    """One account, a reason the owners will read, a ticket, at most 4 hours; audited in the account's trail."""
    from switchboard.logic import break_glass  # noqa: PLC0415 - PynamoDB and botocore load with the first request

    answer = break_glass.request_access(operators.operator_of(app), body, api.request_meta(app))
    return api.json_response(201, answer)


@app.get(
    "/ops/v1/access-requests",
    summary="List access requests",
    tags=["operators"],
    responses=api.answers(200, AccessRequestPage, "Every request, newest first, with its status now"),
)
def list_requests(limit: api.PageLimit = api.DEFAULT_LIMIT, cursor: api.PageCursor = None) -> Response[str]:
    """Pending, approved (active), denied, revoked and expired requests of every account."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    return api.json_response(200, break_glass.list_requests(limit=limit, cursor=cursor))


@app.get(
    "/ops/v1/access-requests/<request_id>",
    summary="Read an access request",
    tags=["operators"],
    responses=api.answers(200, AccessRequestOut, "The request and, once approved, its grant", problems=(404,)),
)
def read_request(request_id: str) -> Response[str]:
    """Its status now, operators, reason, ticket and times."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    return api.json_response(200, break_glass.read_request(request_id))


@app.post(
    "/ops/v1/access-requests/<request_id>/approve",
    summary="Approve an access request",
    tags=["operators"],
    responses=api.answers(
        200,
        AccessRequestOut,
        "Approved: the requester may read for the hours asked",
        problems={403: "`self_approval`: the requester cannot approve", 404: "", 409: _DECIDED},
    ),
)
def approve(request_id: str) -> Response[str]:
    """A second operator (security role) opens the grant; the account's owners are e-mailed."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    answer = break_glass.approve(operators.operator_of(app), request_id, api.request_meta(app))
    return api.json_response(200, answer)


@app.post(
    "/ops/v1/access-requests/<request_id>/deny",
    summary="Deny an access request",
    tags=["operators"],
    responses=api.answers(200, AccessRequestOut, "Denied", problems={404: "", 409: _DECIDED}),
)
def deny(request_id: str) -> Response[str]:
    """A pending request is refused (or withdrawn by its requester); the account is free for another."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    return api.json_response(200, break_glass.deny(operators.operator_of(app), request_id, api.request_meta(app)))


@app.post(
    "/ops/v1/access-requests/<request_id>/revoke",
    summary="Revoke an access grant",
    tags=["operators"],
    responses=api.answers(
        200,
        AccessRequestOut,
        "Revoked: reads under it are refused from now on",
        problems={404: "", 409: "`access_grant_not_active`: not approved, ended or expired"},
    ),
)
def revoke(request_id: str) -> Response[str]:
    """The holder (finishing early) or a security operator ends an active grant now."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    return api.json_response(200, break_glass.revoke(operators.operator_of(app), request_id, api.request_meta(app)))


_READ_PROBLEMS = {403: "`no_access_grant`, `access_grant_expired` or `access_grant_not_yours`", 404: ""}


@app.get(
    "/ops/v1/accounts/<account_id>/messages",
    summary="An account's messages, under a grant",
    tags=["operators"],
    responses=api.answers(
        200, MessagePage, "A page of messages with numbers and bodies, newest first", problems=_READ_PROBLEMS
    ),
)
def list_messages(
    account_id: str,
    *,
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.PageCursor = None,
    status: api.StatusFilter = None,
    channel: api.ChannelFilter = None,
    since: api.TimeFilter = None,
    until: api.TimeFilter = None,
) -> Response[str]:
    """The customer list (its filters and cursor) with content; audited and e-mailed to the owners."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    page = break_glass.list_messages(
        operators.operator_of(app),
        account_id,
        api.request_meta(app),
        limit=limit,
        cursor=cursor,
        status=status,
        channel=channel,
        since=since,
        until=until,
    )
    return api.json_response(200, page)


@app.get(
    "/ops/v1/accounts/<account_id>/messages/<message_id>",
    summary="One of an account's messages, under a grant",
    tags=["operators"],
    responses=api.answers(200, MessageOut, "The message's log with number and body", problems=_READ_PROBLEMS),
)
def read_message(account_id: str, message_id: str) -> Response[str]:
    """The customer read; audited and e-mailed to the owners."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    answer = break_glass.read_message(operators.operator_of(app), account_id, message_id, api.request_meta(app))
    return api.json_response(200, answer)


@app.get(
    "/ops/v1/accounts/<account_id>/recipients/<recipient_id>",
    summary="One of an account's recipients, under a grant",
    tags=["operators"],
    responses=api.answers(200, RecipientOut, "The recipient with number and name", problems=_READ_PROBLEMS),
)
def read_recipient(account_id: str, recipient_id: str) -> Response[str]:
    """The customer read; audited and e-mailed to the owners."""
    from switchboard.logic import break_glass  # noqa: PLC0415

    answer = break_glass.read_recipient(operators.operator_of(app), account_id, recipient_id, api.request_meta(app))
    return api.json_response(200, answer)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point (the operator API)."""
    return api.handle(app, event, context)

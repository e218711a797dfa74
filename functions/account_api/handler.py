"""Account routes: GET /v1/account, closure (delete, restore, export), members and invitations, the audit trail."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.account import (
    AcceptIn,
    AccountOut,
    AccountSettingsIn,
    InvitationOut,
    InviteIn,
    JoinedOut,
    MemberList,
    MemberOut,
    RoleChangeIn,
)
from switchboard.models.audit import AuditPage, ChainVerification
from switchboard.models.closure import AccountExport, DeleteAccountIn, DeletionOut, RestoreIn, RestoreOut
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()
# Optional fields (purge_after, first_bad, ...) are left out rather than null (exclude_none), as API.md shows them.


@app.get(
    "/v1/account",
    summary="My account",
    tags=["account"],
    responses=api.answers(200, AccountOut, "The account"),
)
def get_account() -> Response[str]:
    """Name, plan, status and sender numbers; every role may read it."""
    from switchboard.logic import account_info  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    principal, _ = api.caller(app)
    return api.json_response(200, account_info.get_account(principal), exclude_none=True)


@app.patch(
    "/v1/account",
    summary="Change my account's settings",
    tags=["account"],
    responses=api.answers(200, AccountOut, "The account with its new settings"),
)
def patch_account(body: Annotated[AccountSettingsIn, Body()]) -> Response[str]:
    """Owners and admins, from a session re-authenticated within 5 minutes: message retention (R60, 1-395 days)."""
    from switchboard.logic import retention  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(200, retention.update(principal, body, meta), exclude_none=True)


@app.delete(
    "/v1/account",
    summary="Delete my account",
    tags=["account"],
    responses=api.answers(202, DeletionOut, "Pending deletion until purge_after", problems=(409,)),
)
def delete_account(body: Annotated[DeleteAccountIn | None, Body()] = None) -> Response[str]:
    """202: owner, session, password (+ TOTP); every session and key stops now, the data goes after 30 days."""
    from switchboard.logic import closure  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(202, closure.request_deletion(principal, body, meta), exclude_none=True)


@app.post(
    "/v1/account/restore",
    summary="Restore an account pending deletion",
    tags=["account"],
    responses=api.answers(200, RestoreOut, "Restored", problems=(401, 409, 410)),
)
def restore_account(body: Annotated[RestoreIn, Body()]) -> Response[str]:
    """Public (logins stop while an account is pending deletion): an owner's e-mail and password, until purge_after."""
    from switchboard.logic import closure  # noqa: PLC0415

    return api.json_response(200, closure.restore(body, api.request_meta(app)), exclude_none=True)


@app.get(
    "/v1/account/export",
    summary="Export every record of my account",
    tags=["account"],
    responses=api.answers(200, AccountExport, "Every record of the account", problems=(413,)),
)
def export_account() -> Response[str]:
    """Owner, session, login or re-authentication within 5 minutes; 413 export_too_large beyond 6 MB."""
    from switchboard.logic import closure  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(200, closure.export(principal, meta))


@app.post(
    "/v1/members",
    summary="Invite a member",
    tags=["members"],
    responses=api.answers(201, InvitationOut, "Invited: the link goes to the address", problems=(409,)),
)
def invite_member(body: Annotated[InviteIn, Body()]) -> Response[str]:
    """201: a 7-day single-use invitation link goes to the address."""
    from switchboard.logic import members  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(201, members.invite(principal, body, meta), exclude_none=True)


@app.get(
    "/v1/members",
    summary="List members and pending invitations",
    tags=["members"],
    responses=api.answers(200, MemberList, "Members, then pending invitations"),
)
def list_members(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.NextCursor = None,
) -> Response[str]:
    """Members first, then invitations (status `invited`); paged."""
    from switchboard.logic import members  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, members.list_members(principal, limit, cursor), exclude_none=True)


@app.patch(
    "/v1/members/<user_id>",
    summary="Change a member's role",
    tags=["members"],
    responses=api.answers(200, MemberOut, "The member with the new role", problems=(404, 409)),
)
def change_role(user_id: str, body: Annotated[RoleChangeIn, Body()]) -> Response[str]:
    """Applies on the member's next request."""
    from switchboard.logic import members  # noqa: PLC0415

    principal, meta = api.caller(app)
    return api.json_response(200, members.change_role(principal, user_id, body.role, meta), exclude_none=True)


@app.delete(
    "/v1/members/<user_id>",
    summary="Remove a member or cancel an invitation",
    tags=["members"],
    responses=api.answers(204, None, "Removed", problems=(404, 409)),
)
def remove_member(user_id: str) -> Response[str]:
    """Their sessions and API keys die at once."""
    from switchboard.logic import members  # noqa: PLC0415

    principal, meta = api.caller(app)
    members.remove(principal, user_id, meta)
    return api.no_content()


@app.post(
    "/v1/invitations/accept",
    summary="Accept an invitation",
    tags=["members"],
    responses=api.answers(
        201,
        JoinedOut,
        "Joined",
        problems={
            409: "",
            410: "The inviter can no longer invite (removed, demoted, locked): the invitation is revoked",
        },
    ),
)
def accept_invitation(body: Annotated[AcceptIn, Body()]) -> Response[str]:
    """201: the new member logs in with the invited address and this password."""
    from switchboard.logic import members  # noqa: PLC0415

    return api.json_response(201, members.accept(body, api.request_meta(app)), exclude_none=True)


@app.get(
    "/v1/audit-events",
    summary="The account's audit trail",
    tags=["audit"],
    responses=api.answers(200, AuditPage, "A page of audit events, newest first"),
)
def audit_events(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response[str]:
    """Newest first; `next_cursor` continues with older events."""
    from switchboard.logic import account_info  # noqa: PLC0415

    principal, _ = api.caller(app)
    page = account_info.audit_events(principal, limit=limit, cursor=cursor)
    return api.json_response(200, page)


@app.get(
    "/v1/audit-events/verification",
    summary="Verify the audit trail's hash chain",
    tags=["audit"],
    responses=api.answers(200, ChainVerification, "The hash chain's verification"),
)
def verify_audit() -> Response[str]:
    """`{valid, checked, first_bad?}`."""
    from switchboard.logic import account_info  # noqa: PLC0415

    principal, _ = api.caller(app)
    return api.json_response(200, account_info.verify_audit(principal), exclude_none=True)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)

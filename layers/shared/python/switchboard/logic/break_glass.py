"""Break-glass access (R34): an operator asks for one account's data, a second operator approves, reads are audited.

The grant is the requester's alone, for at most 4 hours. Every read under it goes through the customer API's own
logic (the same sealed-field code and the account's data key) and is an audit event in the account's trail, with
both operators, the grant and the ticket, that its owners see in GET /v1/audit-events and are e-mailed about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.dal import accounts as accounts_dal
from switchboard.dal import break_glass as store
from switchboard.dal import cursors
from switchboard.dal.break_glass import AccessRequest
from switchboard.logic import audit, messages, notices, recipients
from switchboard.models import paging
from switchboard.models.break_glass import AccessRequestIn, AccessRequestOut, AccessRequestPage, AccessStatus
from switchboard.models.errors import Conflict, Forbidden, NotFound
from switchboard.observability import metrics

if TYPE_CHECKING:
    from switchboard.models.audit import Scalar
    from switchboard.models.messages import MessageOut, MessagePage
    from switchboard.models.recipients import RecipientOut
    from switchboard.models.request import RequestMeta

PENDING_S = 3600  # a request not approved within the hour expires: ask again
APPROVER_ROLE = "security"  # R34: only the security role decides on access to customer data
HOUR_S = 3600
NOTICE_KIND = "operator_access"  # its own per-recipient limit (switchboard.logic.mailer.LIMITS)


class Operator(Protocol):
    """Who acts: `switchboard.operators.Operator` (an id from the IAM session name and an operator role)."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...


class AccessRequestOpen(Conflict):
    """409: the account has a request pending or a grant active already."""

    code = "access_request_open"


class NotPending(Conflict):
    """409: the request was decided already (approved, denied, revoked) or expired unapproved."""

    code = "access_request_not_pending"


class NotActive(Conflict):
    """409: revoking a grant that is not active (never approved, ended, or expired)."""

    code = "access_grant_not_active"


def actor(operator: Operator) -> str:
    """An operator as audit events name it."""
    return f"operator:{operator.id}"


def _status(request: AccessRequest, now: float) -> AccessStatus:
    if request.status == "pending" and request.pending_until <= now:
        return "expired"
    if request.status == "approved" and (request.grant_until or 0) <= now:
        return "expired"
    return cast("AccessStatus", request.status)  # the store writes only pending, approved, denied, revoked


def _rfc(epoch: int | None) -> str | None:
    return None if epoch is None else clock.rfc3339_at(epoch)


def render(request: AccessRequest) -> AccessRequestOut:
    """The API shape of a request (its status as of now)."""
    return AccessRequestOut(
        id=request.request_id,
        account_id=request.account_id,
        status=_status(request, clock.timestamp()),
        reason=request.reason,
        ticket=request.ticket,
        hours=request.hours,
        requested_by=request.requested_by,
        requested_at=clock.rfc3339_at(request.requested_at),
        pending_until=clock.rfc3339_at(request.pending_until),
        approved_by=request.approved_by,
        approved_at=_rfc(request.approved_at),
        expires_at=_rfc(request.grant_until),
        ended_by=request.ended_by,
        ended_at=_rfc(request.ended_at),
    )


def _facts(request: AccessRequest) -> dict[str, Scalar]:
    facts: dict[str, Scalar] = {
        "grant_id": request.request_id,
        "requested_by": f"operator:{request.requested_by}",
        "ticket": request.ticket,
        "reason": request.reason,
        "hours": request.hours,
    }
    if request.approved_by:
        facts["approved_by"] = f"operator:{request.approved_by}"
    if request.grant_until:
        facts["expires_at"] = clock.rfc3339_at(request.grant_until)
    return facts


def _record(operator: Operator, request: AccessRequest, type: str, meta: RequestMeta | None, **more: Scalar) -> None:
    audit.record(
        account_id=request.account_id,
        type=type,
        outcome="success",
        actor=actor(operator),
        meta=meta,
        target={"grant_id": request.request_id},
        data={**_facts(request), **more},
    )


def _fetch(request_id: str) -> AccessRequest:
    request = store.get(request_id) if request_id.startswith("acr_") else None
    if request is None:
        raise NotFound("No access request with this id.")
    return request


def request_access(operator: Operator, body: AccessRequestIn, meta: RequestMeta | None) -> AccessRequestOut:
    """POST /ops/v1/access-requests → 201 pending; 404 for an unknown account; 409 while one is open."""
    if accounts_dal.get_account(body.account_id) is None:
        raise NotFound("No account with this id.")
    now = int(clock.timestamp())
    request = AccessRequest(
        request_id=ids.new_id("acr"),
        account_id=body.account_id,
        status="pending",
        reason=body.reason,
        ticket=body.ticket,
        hours=body.hours,
        requested_by=operator.id,
        requested_at=now,
        pending_until=now + PENDING_S,
    )
    try:
        store.create(request, now=now)
    except store.Lost:
        current = store.open_request(body.account_id)
        raise AccessRequestOpen(
            "This account has an access request pending or a grant active already"
            + (f" ({current.request_id}, {_status(current, now)})" if current else "")
            + ": approve, deny or revoke it first.",
        ) from None
    _record(operator, request, "operator.access.requested", meta)
    metrics.add_metric(name="BreakGlassRequested", unit="Count", value=1)
    return render(request)


def approve(operator: Operator, request_id: str, meta: RequestMeta | None) -> AccessRequestOut:
    """A second operator of the security role opens the grant for its hours; 403 to its own requester."""
    request = _fetch(request_id)
    if operator.role != APPROVER_ROLE:
        raise Forbidden("Only an operator of the security role approves access to customer data.")
    if request.requested_by == operator.id:
        raise Forbidden("A second operator must approve: nobody approves their own request.", code="self_approval")
    now = int(clock.timestamp())
    grant_until = now + request.hours * HOUR_S
    try:
        store.approve(request, approver=operator.id, now=now, grant_until=grant_until)
    except store.Lost:
        current = store.get(request_id) or request
        raise NotPending(
            f"This request is {_status(current, now)}: only a pending request can be approved (ask again)."
        ) from None
    approved = store.get(request_id) or request
    _record(operator, approved, "operator.access.approved", meta)
    notices.tell_owners(
        approved.account_id,
        "an operator was given access to your data",
        f"Switchboard operator {approved.requested_by} was given read access to your account's messages until "
        f"{_rfc(approved.grant_until)}, approved by operator {approved.approved_by}.\n"
        f"Reason: {approved.reason}\nTicket: {approved.ticket}\n"
        "Every read is an event in your audit trail (GET /v1/audit-events) and is e-mailed to the owners.",
        kind=NOTICE_KIND,
    )
    metrics.add_metric(name="BreakGlassApproved", unit="Count", value=1)
    return render(approved)


def _end(
    operator: Operator, request_id: str, meta: RequestMeta | None, *, was: str, status: str, refused: type[Conflict]
) -> AccessRequestOut:
    """`was` -> `status` by an operator of the security role or the request's own requester; `refused` otherwise."""
    request = _fetch(request_id)
    if operator.role != APPROVER_ROLE and operator.id != request.requested_by:
        raise Forbidden("Only an operator of the security role, or the request's own requester, may do this.")
    now = int(clock.timestamp())
    if _status(request, now) != was:
        raise refused(f"This request is {_status(request, now)}: only {was} requests can be {status}.")
    try:
        store.end(request, status=status, by=operator.id, now=now, was=was)
    except store.Lost:
        current = store.get(request_id) or request
        raise refused(f"This request is {_status(current, now)}: only {was} requests can be {status}.") from None
    ended = store.get(request_id) or request
    _record(operator, ended, f"operator.access.{status}", meta)
    return render(ended)


def deny(operator: Operator, request_id: str, meta: RequestMeta | None) -> AccessRequestOut:
    """A pending request is refused (by an approver, or withdrawn by its requester); 409 once decided or expired."""
    return _end(operator, request_id, meta, was="pending", status="denied", refused=NotPending)


def revoke(operator: Operator, request_id: str, meta: RequestMeta | None) -> AccessRequestOut:
    """An active grant ends now (an approver, or its own holder finishing early); 409 when it is not active."""
    return _end(operator, request_id, meta, was="approved", status="revoked", refused=NotActive)


def read_request(request_id: str) -> AccessRequestOut:
    """GET /ops/v1/access-requests/{id}."""
    return render(_fetch(request_id))


def list_requests(*, limit: int, cursor: str | None) -> AccessRequestPage:
    """GET /ops/v1/access-requests: every request, newest first."""
    paging.check_limit(limit)
    try:
        found, next_cursor = store.page(limit=limit, cursor=cursor)
    except cursors.InvalidCursor:
        raise paging.bad_cursor() from None
    return AccessRequestPage(data=[render(r) for r in found], next_cursor=next_cursor)


def grant_of(operator: Operator, account_id: str, meta: RequestMeta | None, what: str) -> AccessRequest:
    """The operator's active grant on this account, or 403 (audited as denied in an existing account's trail)."""
    now = clock.timestamp()
    request = store.open_request(account_id) if account_id.startswith("acct_") else None
    refusal: Forbidden | None = None
    if request is None or request.status != "approved":
        refusal = Forbidden(
            "No approved access grant to this account: request one and have it approved.", code="no_access_grant"
        )
    elif _status(request, now) == "expired":
        refusal = Forbidden(
            "The access grant to this account has expired: request a new one.", code="access_grant_expired"
        )
    elif request.requested_by != operator.id:
        refusal = Forbidden("This grant is its requester's alone: request your own.", code="access_grant_not_yours")
    if refusal is None:
        assert request is not None  # noqa: S101 - refused above otherwise
        return request
    if account_id.startswith("acct_") and accounts_dal.get_account(account_id) is not None:
        audit.record_denied(
            account_id=account_id,
            type="operator.data.read",
            actor=actor(operator),
            meta=meta,
            target={"grant_id": request.request_id} if request else None,
            data={"read": what, "refusal": refusal.instance_code},
        )
    raise refusal


def _reader(account_id: str, operator: Operator) -> Principal:
    # The customer API's own logic reads for the grant: a non-viewer role sees numbers and content in clear.
    return Principal(
        account_id=account_id,
        principal=actor(operator),
        role="operator",
        credential="operator",
        session_id="",
        key_id="",
        plan="",
        mode="",
        auth_at=0,
    )


def _audit_read(
    operator: Operator, grant: AccessRequest, meta: RequestMeta | None, what: str, ids_read: list[str]
) -> None:
    """The read's audit event, then the owners' e-mail: both before any data is answered (ids, never content)."""
    _record(operator, grant, "operator.data.read", meta, read=what, ids=",".join(ids_read), count=len(ids_read))
    notices.tell_owners(
        grant.account_id,
        "an operator read your data",
        f"Switchboard operator {operator.id} read {what} of your account at {clock.rfc3339(clock.now())}"
        f"{' (' + ', '.join(ids_read) + ')' if ids_read else ''}, under access grant {grant.request_id} approved by "
        f"operator {grant.approved_by} until {_rfc(grant.grant_until)}.\n"
        f"Reason: {grant.reason}\nTicket: {grant.ticket}\n"
        "The event is in your audit trail (GET /v1/audit-events).",
        kind=NOTICE_KIND,
    )
    metrics.add_metric(name="BreakGlassReads", unit="Count", value=1)


def list_messages(
    operator: Operator,
    account_id: str,
    meta: RequestMeta | None,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> MessagePage:
    """GET /ops/v1/accounts/{id}/messages: the customer list, with numbers and bodies opened, under a grant."""
    grant = grant_of(operator, account_id, meta, "messages")
    page = messages.list_page(
        _reader(account_id, operator),
        limit=limit,
        cursor=cursor,
        status=status,
        channel=channel,
        since=since,
        until=until,
        with_content=True,
    )
    _audit_read(operator, grant, meta, "messages", [m.id for m in page.data])
    return page


def read_message(operator: Operator, account_id: str, message_id: str, meta: RequestMeta | None) -> MessageOut:
    """GET /ops/v1/accounts/{id}/messages/{message_id}: the customer read, under a grant (404 as the customer's)."""
    grant = grant_of(operator, account_id, meta, "message")
    message = messages.read(_reader(account_id, operator), message_id)
    _audit_read(operator, grant, meta, "message", [message.id])
    return message


def read_recipient(operator: Operator, account_id: str, recipient_id: str, meta: RequestMeta | None) -> RecipientOut:
    """GET /ops/v1/accounts/{id}/recipients/{recipient_id}: the customer read (number, name opened), under a grant."""
    grant = grant_of(operator, account_id, meta, "recipient")
    recipient = recipients.read(_reader(account_id, operator), recipient_id)
    _audit_read(operator, grant, meta, "recipient", [recipient.id])
    return recipient

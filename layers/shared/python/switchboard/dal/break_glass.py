"""Break-glass access requests and grants in the Platform table (operator state, global: `ACCESS#...`).

One item per request (`ACCESS#REQUEST`, sk = its id; approved, it is the grant) and one per account
(`ACCESS#ACCOUNT`, sk = the account id) naming the request that holds the account open and until when: every
change of a request is a transaction conditioned on both, so two requests for one account, or two decisions on one
request, cannot both win. Neither has `expires_at`: DynamoDB TTL never removes the operators' record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from switchboard import catalog
from switchboard.dal import clients, cursors
from switchboard.dal.base import BaseItem, record_of

REQUEST_PK = "ACCESS#REQUEST"
ACCOUNT_PK = "ACCESS#ACCOUNT"


class AccessRequestItem(BaseItem):
    """A request for access to one account's data (sk = its id), and once approved its grant."""

    TABLE_ENV: ClassVar[str] = catalog.table("Platform").env

    class Meta:
        table_name = ""

    account_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | approved | denied | revoked (expiry is read from the times)
    reason = UnicodeAttribute()
    ticket = UnicodeAttribute()
    hours = NumberAttribute()
    requested_by = UnicodeAttribute()
    requested_at = NumberAttribute()
    pending_until = NumberAttribute()  # an approval after this is refused
    approved_by = UnicodeAttribute(null=True)
    approved_at = NumberAttribute(null=True)
    grant_until = NumberAttribute(null=True)  # approved_at + hours: reads after this are refused
    ended_by = UnicodeAttribute(null=True)  # who denied or revoked it
    ended_at = NumberAttribute(null=True)


class AccountAccessItem(BaseItem):
    """The account's open request (pending or granted) and until when it holds the account (sk = account id)."""

    TABLE_ENV: ClassVar[str] = catalog.table("Platform").env

    class Meta:
        table_name = ""

    request_id = UnicodeAttribute()
    open_until = NumberAttribute()


@dataclass(frozen=True)
class AccessRequest:
    """A stored request (epoch seconds)."""

    request_id: str
    account_id: str
    status: str
    reason: str
    ticket: str
    hours: int
    requested_by: str
    requested_at: int
    pending_until: int
    approved_by: str | None = None
    approved_at: int | None = None
    grant_until: int | None = None
    ended_by: str | None = None
    ended_at: int | None = None


class Lost(Exception):
    """A conditional write lost: the request or the account changed (or was taken) meanwhile."""


def _record(item: AccessRequestItem) -> AccessRequest:
    numbers = ("hours", "requested_at", "pending_until", "approved_at", "grant_until", "ended_at")
    ints = {name: int(value) for name in numbers if (value := getattr(item, name, None)) is not None}
    return record_of(AccessRequest, item, request_id=str(item.sk), **ints)


def _transact(*writes: tuple[BaseItem, list[Action] | None, Condition]) -> None:
    """Each (item, update actions or None for a put, condition) in one transaction; Lost when a condition fails."""
    connection = AccessRequestItem._get_connection().connection
    try:
        with TransactWrite(connection=connection) as transaction:
            for item, actions, condition in writes:
                if actions is None:
                    transaction.save(item, condition=condition)
                else:
                    transaction.update(item, actions=actions, condition=condition)
    except TransactWriteError as error:
        if clients.conditional_failed(error):
            raise Lost from error
        raise


def create(request: AccessRequest, *, now: int) -> None:
    """Store a pending request and make it the account's open one; Lost while another is pending or granted."""
    item = AccessRequestItem(
        REQUEST_PK,
        request.request_id,
        account_id=request.account_id,
        status=request.status,
        reason=request.reason,
        ticket=request.ticket,
        hours=request.hours,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        pending_until=request.pending_until,
    )
    hold = AccountAccessItem(
        ACCOUNT_PK, request.account_id, request_id=request.request_id, open_until=request.pending_until
    )
    _transact(
        (item, None, AccessRequestItem.pk.does_not_exist()),
        # The previous request no longer holds the account once it expired (or was denied or revoked: open_until 0).
        (hold, None, AccountAccessItem.pk.does_not_exist() | (AccountAccessItem.open_until <= now)),
    )


def _holds(request: AccessRequest) -> Condition:
    return AccountAccessItem.request_id == request.request_id


def approve(request: AccessRequest, *, approver: str, now: int, grant_until: int) -> None:
    """pending (not expired, another operator's) -> approved until `grant_until`; Lost otherwise."""
    item = AccessRequestItem(REQUEST_PK, request.request_id)
    hold = AccountAccessItem(ACCOUNT_PK, request.account_id)
    _transact(
        (
            item,
            [
                AccessRequestItem.status.set("approved"),
                AccessRequestItem.approved_by.set(approver),
                AccessRequestItem.approved_at.set(now),
                AccessRequestItem.grant_until.set(grant_until),
            ],
            (AccessRequestItem.status == "pending")
            & (AccessRequestItem.pending_until > now)
            & (AccessRequestItem.requested_by != approver),
        ),
        (hold, [AccountAccessItem.open_until.set(grant_until)], _holds(request)),
    )


def end(request: AccessRequest, *, status: str, by: str, now: int, was: str) -> None:
    """`was` -> `status` (denied from pending, revoked from approved), then free the account; Lost otherwise.

    Reads check the request's own status, so the refusal takes effect with the first write. The account is freed
    only while this request still holds it (one that expired may have been followed by another); a failure between
    the two writes leaves the account held until its time ends, refusing new requests meanwhile (never granting).
    """
    try:
        AccessRequestItem(REQUEST_PK, request.request_id).update(
            actions=[
                AccessRequestItem.status.set(status),
                AccessRequestItem.ended_by.set(by),
                AccessRequestItem.ended_at.set(now),
            ],
            condition=AccessRequestItem.status == was,
        )
    except UpdateError as error:
        if clients.conditional_failed(error):
            raise Lost from error
        raise
    try:
        AccountAccessItem(ACCOUNT_PK, request.account_id).update(
            actions=[AccountAccessItem.open_until.set(0)], condition=_holds(request)
        )
    except UpdateError as error:
        if not clients.conditional_failed(error):
            raise


def _hold(account_id: str) -> AccountAccessItem | None:
    try:
        return AccountAccessItem.get(ACCOUNT_PK, account_id, consistent_read=True)
    except DoesNotExist:
        return None


def get(request_id: str) -> AccessRequest | None:
    """One request, or None."""
    try:
        return _record(AccessRequestItem.get(REQUEST_PK, request_id, consistent_read=True))
    except DoesNotExist:
        return None


def open_request(account_id: str) -> AccessRequest | None:
    """The request that holds the account (pending or granted, perhaps expired since), or None."""
    hold = _hold(account_id)
    return get(hold.request_id) if hold is not None else None


def page(*, limit: int, cursor: str | None) -> tuple[list[AccessRequest], str | None]:
    """Requests newest first (ids sort by time); InvalidCursor for a cursor this query did not issue."""
    start = None
    if cursor:
        after = cursors.decode(cursor, keys={"id"})["id"]
        start = {"pk": {"S": REQUEST_PK}, "sk": {"S": after}}
    query = AccessRequestItem.query(
        REQUEST_PK, scan_index_forward=False, limit=limit, last_evaluated_key=start, consistent_read=True
    )
    items = [_record(item) for item in query]
    last = query.last_evaluated_key
    return items, cursors.encode({"id": last["sk"]["S"]}) if last else None

"""Recipient lists: create, add recipients in batches (foreign ids reported, never added), page through members."""

from __future__ import annotations

from switchboard import clock, ids
from switchboard.auth import Principal
from switchboard.dal import recipients as store
from switchboard.dal.cursors import InvalidCursor
from switchboard.logic import recipients as recipients_logic
from switchboard.models import paging
from switchboard.models.errors import NotFound
from switchboard.models.recipients import ListIn, ListMembersAdded, ListMembersIn, ListOut, RecipientPage


def create(principal: Principal, body: ListIn) -> ListOut:
    """POST /v1/lists."""
    created = store.RecipientList(list_id=ids.new_id("lst"), name=body.name, created_at=clock.rfc3339(clock.now()))
    store.create_list(principal.account_id, created)
    return _render(created)


def _render(recipient_list: store.RecipientList) -> ListOut:
    return ListOut(id=recipient_list.list_id, name=recipient_list.name, created_at=recipient_list.created_at)


def fetch(account_id: str, list_id: str) -> ListOut:
    """The list, or 404."""
    found = store.get_list(account_id, list_id) if list_id.startswith("lst_") else None
    if found is None:
        raise NotFound("No list with this id.")
    return _render(found)


def add(principal: Principal, list_id: str, body: ListMembersIn) -> ListMembersAdded:
    """POST /v1/lists/{id}/recipients: one BatchGetItem per 100 ids checks ownership, one BatchWriteItem per 25 adds."""
    account_id = principal.account_id
    fetch(account_id, list_id)
    wanted = list(dict.fromkeys(body.recipient_ids))
    valid = [r for r in wanted if r.startswith("rcp_") and len(r) <= 64]
    found = store.get_many(account_id, valid)
    store.add_members(account_id, list_id, [r for r in wanted if r in found])
    return ListMembersAdded(list_id=list_id, added=len(found), not_found=[r for r in wanted if r not in found])


def members(principal: Principal, list_id: str, *, limit: int, cursor: str | None) -> RecipientPage:
    """GET /v1/lists/{id}/recipients: a page of memberships, then the recipients in one batched read."""
    account_id = principal.account_id
    fetch(account_id, list_id)
    try:
        recipient_ids, next_cursor = store.members_page(account_id, list_id, limit=limit, cursor=cursor)
    except InvalidCursor:
        raise paging.bad_cursor() from None
    found = store.get_many(account_id, recipient_ids)
    data = [recipients_logic.render(principal, found[r]) for r in recipient_ids if r in found]
    return RecipientPage(data=data, next_cursor=next_cursor)

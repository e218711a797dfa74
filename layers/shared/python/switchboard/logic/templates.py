"""Message templates (finding 12): the account's registry, and every template send checked against it."""

from __future__ import annotations

from switchboard import clock, ids, settings
from switchboard.auth import Principal
from switchboard.dal import templates as store
from switchboard.dal.templates import TemplateItem
from switchboard.logic import caps
from switchboard.models import paging
from switchboard.models.errors import Conflict, NotFound, ValidationFailed
from switchboard.models.messages import MAX_BODY_CHARS, Template
from switchboard.models.templates import TemplateIn, TemplateList, TemplateOut, placeholders, render


class TemplateNotApproved(ValidationFailed):
    """422: no approved template of this name and language in the account: nothing was queued."""

    code = "template_not_approved"


def _out(item: TemplateItem) -> TemplateOut:
    return TemplateOut(
        id=item.template_id,
        name=item.name,
        language=item.language,
        category=item.category,
        body=item.body,
        parameters=int(item.parameters),
        status=item.status,
        created_at=clock.rfc3339_at(int(item.created_at)),
    )


def create(principal: Principal, body: TemplateIn) -> TemplateOut:
    """POST /v1/templates → 201.

    In the sandbox (test mode) a template is approved at once. Deployed, a template starts `pending`: it would be
    submitted to the carrier (Meta's template review) and only an approved one may be sent.
    """
    now = int(clock.timestamp())
    item = store.new_template(
        principal.account_id,
        body.name,
        body.language,
        template_id=ids.new_id("tpl"),
        category=body.category,
        body=body.body,
        parameters=placeholders(body.body),
        status="approved" if settings.get().rules.test_mode else "pending",
        created_by=principal.principal,
        created_at=now,
    )
    try:
        with caps.capped(caps.TEMPLATES):
            store.put(item, cap=caps.LIMITS[caps.TEMPLATES])
    except store.Exists:
        raise Conflict(
            "This account already has a template of this name and language.", code="template_exists"
        ) from None
    return _out(item)


def list_page(principal: Principal, limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None) -> TemplateList:
    """GET /v1/templates: oldest first, paged."""
    items, more = caps.page(store.list_all(principal.account_id), lambda t: t.template_id, limit=limit, cursor=cursor)
    return TemplateList(data=[_out(t) for t in items], next_cursor=more)


def _own(principal: Principal, template_id: str) -> TemplateItem:
    found = next((t for t in store.list_all(principal.account_id) if t.template_id == template_id), None)
    if found is None:
        raise NotFound("No such template.")
    return found


def read(principal: Principal, template_id: str) -> TemplateOut:
    """GET /v1/templates/{id}."""
    return _out(_own(principal, template_id))


def delete(principal: Principal, template_id: str) -> None:
    """DELETE /v1/templates/{id}: later sends naming it are refused; messages already queued keep their text."""
    store.delete(_own(principal, template_id))


def _refused(pointer: str, message: str) -> TemplateNotApproved:
    return TemplateNotApproved(
        "The account has no approved template of this name and language; nothing was queued.",
        errors=[{"pointer": pointer, "message": message}],
    )


def check(account_id: str, template: Template) -> str:
    """The template's rendered text, once the send is allowed: 422 template_not_approved or validation_failed."""
    item = store.get(account_id, template.name, template.language)
    if item is None:
        languages = sorted(t.language for t in store.list_all(account_id) if t.name == template.name)
        if languages:
            raise _refused("/template/language", f"this template exists in: {', '.join(languages)}")
        raise _refused("/template/name", "no template of this name")
    if item.status != "approved":
        raise _refused("/template/name", f"the template is {item.status}, not approved")
    expected = int(item.parameters)
    if len(template.parameters) != expected:
        raise ValidationFailed(
            "The template takes another number of parameters.",
            errors=[{"pointer": "/template/parameters", "message": f"this template takes exactly {expected}"}],
        )
    text = render(item.body, template.parameters)
    if len(text) > MAX_BODY_CHARS:
        raise ValidationFailed(
            "The rendered template is too long.",
            errors=[{"pointer": "/template/parameters", "message": f"the text is at most {MAX_BODY_CHARS} characters"}],
        )
    return text

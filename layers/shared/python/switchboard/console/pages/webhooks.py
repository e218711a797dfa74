"""Webhook endpoints: list, create (the signing secret shown once), rotate the secret, delete, and each endpoint's
delivery log (docs/webhooks.md)."""

from __future__ import annotations

import re
from typing import Any

from switchboard.console.app import PREFIX, Ctx, for_the_form, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.web import Response
from switchboard.models.webhooks import MAX_ROTATION_GRACE_S, EventType

BASE = f"{PREFIX}/webhooks"
EVENT_FIELD = "event:"  # one checkbox per event type (a form gives a page one value per name)
EVENTS: tuple[tuple[str, str], ...] = (
    (EventType.MESSAGE_STATUS.value, "Each status change of a message you sent (sending, sent, delivered, failed…)"),
    (EventType.MESSAGE_INBOUND.value, "A message a recipient sent to one of your numbers"),
    (EventType.RECIPIENT_OPTED_OUT.value, "A recipient opted out (STOP) on a channel"),
)
# How long a replaced secret keeps signing beside the new one (the API's grace_s); 0 for a leaked secret.
GRACE_CHOICES: tuple[tuple[str, str], ...] = (
    (str(MAX_ROTATION_GRACE_S), "24 hours: both secrets sign until your receivers have the new one"),
    ("3600", "1 hour"),
    ("0", "None: the old secret stops now (it leaked)"),
)
# The gateway's schema refusals name the field only in their detail ("[/url: fails minLength 1]").
_SCHEMA_POINTER = re.compile(r"\[/(url|events)\b")
_FIELD_MESSAGES = {
    "url": "Enter the URL that receives the events (at most 2048 characters).",
    "events": "Choose at least one event.",
}

notice("webhook_deleted", "The endpoint is deleted; deliveries still queued for it are dropped.")


def _events(ctx: Ctx) -> list[str]:
    return [name for name, _ in EVENTS if ctx.form.get(EVENT_FIELD + name)]


def _endpoints(ctx: Ctx, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    # At most 10 endpoints per account: one page of 100 holds them all, the cursor is there for completeness.
    answer = ctx.api.get("/v1/webhook-endpoints", limit=100, cursor=cursor)
    body = answer.body if isinstance(answer.body, dict) else {}
    return list(answer.data or []), body.get("next_cursor")


def _with_field_errors(problem: ApiProblem) -> ApiProblem:
    """Name the field a schema refusal is about, so its message shows beside it."""
    if not problem.field_errors:
        found = _SCHEMA_POINTER.search(problem.detail)
        if found:
            problem.body["errors"] = [{"pointer": f"/{found.group(1)}", "message": _FIELD_MESSAGES[found.group(1)]}]
            problem.detail = "Check the field marked below."
    return problem


def _list(
    ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None, checked: list[str] | None = None
) -> Response:
    endpoints, next_cursor = _endpoints(ctx, ctx.query.get("cursor"))
    return ctx.render(
        "webhooks/list.html",
        status=status,
        problem=problem,
        endpoints=endpoints,
        next_cursor=next_cursor,
        events=EVENTS,
        event_field=EVENT_FIELD,
        checked=checked if checked is not None else [EventType.MESSAGE_STATUS.value],
        grace_choices=GRACE_CHOICES,
    )


@page("GET", BASE)
def endpoints_page(ctx: Ctx) -> Response:
    """The endpoints (url, events, created, secret version) with the create form."""
    return _list(ctx)


@page("POST", BASE)
def create(ctx: Ctx) -> Response:
    """POST /v1/webhook-endpoints; the answer page shows the signing secret, this once."""
    events = _events(ctx)
    body = {"url": ctx.form.get("url", "").strip(), "events": events}
    try:
        answer = ctx.api.post("/v1/webhook-endpoints", body, idempotency_key=ctx.idempotency_key())
    except ApiProblem as problem:
        if not for_the_form(problem):
            raise
        if problem.code == "idempotency_secret_shown":
            problem.detail = (
                "This form was already sent: the endpoint exists and its secret was shown then. "
                "If the secret is lost, rotate it."
            )
        return _list(ctx, status=problem.status, problem=_with_field_errors(problem), checked=events)
    return ctx.render("webhooks/secret.html", endpoint=answer.body, created=True)


@page("GET", f"{BASE}/{{endpoint_id}}")
def deliveries(ctx: Ctx) -> Response:
    """GET /v1/webhook-endpoints/{id}/deliveries: each attempt, newest first (404 for another account's id)."""
    endpoint_id = ctx.params["endpoint_id"]
    answer = ctx.api.get(
        f"/v1/webhook-endpoints/{segment(endpoint_id)}/deliveries", limit=50, cursor=ctx.query.get("cursor")
    )
    endpoints, _ = _endpoints(ctx)
    endpoint = next((e for e in endpoints if e.get("id") == endpoint_id), {"id": endpoint_id})
    body = answer.body if isinstance(answer.body, dict) else {}
    return ctx.render(
        "webhooks/deliveries.html",
        endpoint=endpoint,
        deliveries=answer.data or [],
        next_cursor=body.get("next_cursor"),
        grace_choices=GRACE_CHOICES,
    )


@page("POST", f"{BASE}/{{endpoint_id}}/rotate")
def rotate(ctx: Ctx) -> Response:
    """POST /v1/webhook-endpoints/{id}/rotate-secret; the new secret is shown once, with when the old one stops."""
    endpoint_id = ctx.params["endpoint_id"]
    grace = ctx.form.get("grace_s", str(MAX_ROTATION_GRACE_S))
    if grace not in {value for value, _ in GRACE_CHOICES}:
        grace = str(MAX_ROTATION_GRACE_S)
    try:
        answer = ctx.api.post(
            f"/v1/webhook-endpoints/{segment(endpoint_id)}/rotate-secret",
            {"grace_s": int(grace)},
            idempotency_key=ctx.idempotency_key(),
        )
    except ApiProblem as problem:
        if problem.status != 409 and problem.code != "idempotency_key_reused":
            raise
        return _list(ctx, status=problem.status, problem=problem)
    return ctx.render("webhooks/secret.html", endpoint=answer.body, created=False, grace_s=int(grace))


@page("POST", f"{BASE}/{{endpoint_id}}/delete")
def delete(ctx: Ctx) -> Response:
    """DELETE /v1/webhook-endpoints/{id}."""
    ctx.api.delete(f"/v1/webhook-endpoints/{segment(ctx.params['endpoint_id'])}")
    return ctx.redirect(BASE, notice="webhook_deleted")

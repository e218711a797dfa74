"""Messages: the log with its filters, the send form, and one message's details with its timeline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from switchboard.console.app import PREFIX, Ctx, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.pages.recipients import CHANNELS, ID, invalid, phone_problem
from switchboard.console.web import Response
from switchboard.models.message_status import FINAL, MESSAGE_STATUSES, RANK
from switchboard.models.messages import MAX_BODY_CHARS
from switchboard.models.permissions import Permission

notice("message_queued", "Message queued: this page shows its progress.")
notice("message_canceled", "Message canceled: it will never be handed to a carrier.")

FILTERS = ("status", "channel", "since", "until", "cursor")
RECIPIENT_CHOICES = 100  # the send form lists this many recipients; any other is reached from its own page


def _day(value: str, *, after: bool) -> str | None:
    """A date field (`2026-12-03`) as the API's RFC 3339 bound: the day's start, or the next day's for `until`."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return f"{day + timedelta(days=1) if after else day}T00:00:00Z"


def _filters(ctx: Ctx) -> tuple[dict[str, str], ApiProblem | None]:
    """The query's filters as the API takes them, or the problem with the field that is wrong."""
    query = {k: ctx.query.get(k, "").strip() for k in FILTERS}
    wanted = {k: v for k, v in query.items() if v}
    if wanted.get("status") and wanted["status"] not in MESSAGE_STATUSES:
        return {}, invalid("/status", "Choose one of the listed statuses.")
    if wanted.get("channel") and wanted["channel"] not in dict(CHANNELS):
        return {}, invalid("/channel", "Choose one of the listed channels.")
    for name in ("since", "until"):
        if name in wanted:
            bound = _day(wanted[name], after=name == "until")
            if bound is None:
                return {}, invalid(f"/{name}", "Enter a date as YYYY-MM-DD.")
            wanted[name] = bound
    return wanted, None


@page("GET", f"{PREFIX}/messages")
def messages(ctx: Ctx) -> Response:
    """GET /v1/messages, newest first, with the status, channel and date filters (a GET form: links keep them)."""
    wanted, problem = _filters(ctx)
    rows: list[Any] = []
    next_cursor = None
    if problem is None:
        try:
            answer = ctx.api.get("/v1/messages", **wanted)
        except ApiProblem as refused:
            if refused.status != 400:
                raise
            problem = refused
        else:
            rows, next_cursor = answer.data, answer.body.get("next_cursor")
    shown = {k: ctx.query.get(k, "") for k in FILTERS if k != "cursor" and ctx.query.get(k)}
    base = "/console/messages" + ("?" + "&".join(f"{k}={segment(v)}" for k, v in shown.items()) if shown else "")
    return ctx.render(
        "messages/list.html",
        status=problem.status if problem else 200,
        problem=problem,
        messages=rows,
        next_cursor=next_cursor,
        base=base,
        filtered=bool(shown),
        values=shown,
        statuses=[("", "Any status"), *((s, s) for s in MESSAGE_STATUSES)],
        channels=[("", "Any channel"), *CHANNELS],
    )


def _send_form(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None, **values: Any) -> Response:
    choices = []
    if ctx.can(Permission.RECIPIENTS_READ):
        listed = ctx.api.get("/v1/recipients", limit=RECIPIENT_CHOICES).data
        choices = [(r["id"], f"{r.get('name') or '(no name)'} {r['phone']}") for r in listed]
    return ctx.render(
        "messages/new.html",
        status=status,
        problem=problem,
        channels=CHANNELS,
        recipients=[("", "— none: use the number below —"), *choices],
        max_body=MAX_BODY_CHARS,
        **values,
    )


@page("GET", f"{PREFIX}/messages/new")
def new_message(ctx: Ctx) -> Response:
    """The send form (a recipient chosen from a recipient's page comes preselected)."""
    if not ctx.can(Permission.MESSAGES_SEND):
        raise ApiProblem(403, {"code": "forbidden", "detail": "Your role may read messages but not send them."})
    chosen = ctx.query.get("recipient_id", "")
    return _send_form(ctx, values={"recipient_id": chosen if ID.fullmatch(chosen) else ""}, consent_for="")


def _send_problem(form: dict[str, str]) -> ApiProblem | None:
    """What the gateway's schema would refuse, said beside the field (its own message names no field)."""
    to, recipient_id, body = form.get("to", "").strip(), form.get("recipient_id", ""), form.get("body", "")
    if to and (wrong_number := phone_problem(to, "/to")):
        return wrong_number
    checks = (
        (bool(to) == bool(recipient_id), "/to", "Choose a recipient or enter a number (one of the two)."),
        (bool(recipient_id) and not ID.fullmatch(recipient_id), "/recipient_id", "Choose a recipient from the list."),
        (form.get("channel") not in dict(CHANNELS), "/channel", "Choose a channel."),
        (not body.strip(), "/body", "Write the message."),
        (len(body) > MAX_BODY_CHARS, "/body", f"At most {MAX_BODY_CHARS} characters (this one has {len(body)})."),
    )
    return next((invalid(pointer, message) for failed, pointer, message in checks if failed), None)


@page("POST", f"{PREFIX}/messages/new")
def send(ctx: Ctx) -> Response:
    """POST /v1/messages with the form's own Idempotency-Key: a double submit replays the first send."""
    form = ctx.form
    problem = _send_problem(form)
    if problem is None:
        to, recipient_id = form.get("to", "").strip(), form.get("recipient_id", "")
        body: dict[str, Any] = {"channel": form["channel"], "body": form["body"]}
        body.update({"to": to} if to else {"recipient_id": recipient_id})
        try:
            sent = ctx.api.post("/v1/messages", body, idempotency_key=ctx.idempotency_key())
        except ApiProblem as refused:
            if refused.status >= 500 or (refused.status in {401, 403, 429} and refused.code != "quota_exceeded"):
                raise
            problem = refused
            if refused.status == 404 and recipient_id:
                refused.body["errors"] = [{"pointer": "/recipient_id", "message": "No such recipient."}]
        else:
            return ctx.redirect(f"{PREFIX}/messages/{segment(sent.body['id'])}", notice="message_queued")
    # The form comes back with a new Idempotency-Key: the corrected form is another request, not a replay.
    chosen = form.get("recipient_id", "")
    return _send_form(ctx, status=problem.status, problem=problem, consent_for=chosen if ID.fullmatch(chosen) else "")


def timeline(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Status changes and carrier attempts in one list, in time order; within one second a status change sorts by
    its place in the lifecycle and an attempt between `sending` and `sent`, so the list reads as it happened."""
    entries: list[tuple[str, int, dict[str, Any]]] = []
    for event in message.get("events") or []:
        place = 2 * RANK.get(str(event.get("status")), 0)
        entries.append((str(event.get("at", "")), place, {"kind": "event", **event}))
    for attempt in message.get("attempts") or []:
        entries.append((str(attempt.get("at", "")), 2 * RANK["sending"] + 1, {"kind": "attempt", **attempt}))
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]


def settled(message: dict[str, Any]) -> bool:
    """No later status can come: final, or delivered on a channel that reports no reads."""
    status = message.get("status")
    return status in FINAL or (status == "delivered" and message.get("channel") != "whatsapp")


@page("GET", f"{PREFIX}/messages/{{message_id}}")
def message(ctx: Ctx) -> Response:
    """GET /v1/messages/{id}: from, to, status, carrier, error and the timeline; a Refresh link until it settles."""
    found = ctx.api.get(f"/v1/messages/{segment(ctx.params['message_id'])}").body
    return ctx.render("messages/detail.html", message=found, timeline=timeline(found), settled=settled(found))


@page("POST", f"{PREFIX}/messages/{{message_id}}/cancel")
def cancel(ctx: Ctx) -> Response:
    """POST /v1/messages/{id}/cancel; 409 when a carrier has it already (shown on the message's page)."""
    path = f"/v1/messages/{segment(ctx.params['message_id'])}"
    try:
        ctx.api.post(f"{path}/cancel", idempotency_key=ctx.idempotency_key())
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        found = ctx.api.get(path).body
        return ctx.render(
            "messages/detail.html",
            status=409,
            problem=problem,
            message=found,
            timeline=timeline(found),
            settled=settled(found),
        )
    return ctx.redirect(f"{PREFIX}/messages/{segment(ctx.params['message_id'])}", notice="message_canceled")

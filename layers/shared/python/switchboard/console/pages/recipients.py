"""Recipients: the list, a new recipient, one recipient's consent per channel and ledger, recording consent, erasure."""

from __future__ import annotations

import re
from typing import Any

from switchboard.console.app import PREFIX, Ctx, for_the_form, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.web import Response
from switchboard.models.recipients import E164_PATTERN

notice("recipient_created", "Recipient created. Record their consent before you send them messages.")
notice("consent_recorded", "Consent recorded: it is the newest entry of the ledger.")
notice("recipient_erased", "The recipient is erased: their personal data is gone, and an opt-out is remembered.")

CHANNELS = (("sms", "SMS"), ("whatsapp", "WhatsApp"), ("voice", "Voice"))
CONSENT_STATUSES = (("opted_in", "Opted in"), ("opted_out", "Opted out"))
# Sources an account may write (docs/consent.md): the platform alone records keywords, carriers and inbound.
SOURCES = (
    ("web_form", "Web form"),
    ("phone_call", "Phone call"),
    ("in_person", "In person"),
    ("paper_form", "Paper form"),
    ("import", "Import"),
    ("api", "API"),
)
ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_NAME_CHARS = 200


def invalid(pointer: str, message: str, detail: str = "Check the highlighted field.") -> ApiProblem:
    """A 422 the console finds itself (what the API's request model would refuse), shown beside the field."""
    errors = [{"pointer": pointer, "message": message}]
    return ApiProblem(422, {"code": "validation_failed", "detail": detail, "errors": errors})


def phone_problem(value: str, pointer: str = "/phone") -> ApiProblem | None:
    """The gateway refuses a malformed number with a message that names no field: say it beside the field instead."""
    if not re.fullmatch(E164_PATTERN, value, re.ASCII):
        return invalid(pointer, "Use E.164: + then the country code and number, digits only (e.g. +14155550123).")
    return None


def _list(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None) -> Response:
    answer = ctx.api.get("/v1/recipients", cursor=ctx.query.get("cursor"))
    existing = problem.body.get("existing_id") if problem and problem.code == "recipient_exists" else None
    return ctx.render(
        "recipients/list.html",
        status=status,
        problem=problem,
        recipients=answer.data,
        next_cursor=answer.body.get("next_cursor"),
        existing_id=existing if isinstance(existing, str) and ID.fullmatch(existing) else None,
    )


@page("GET", f"{PREFIX}/recipients")
def recipients(ctx: Ctx) -> Response:
    """GET /v1/recipients, oldest first, and the form that adds one."""
    return _list(ctx)


@page("POST", f"{PREFIX}/recipients")
def create(ctx: Ctx) -> Response:
    """POST /v1/recipients; 409 recipient_exists links to the one that has the number."""
    phone = ctx.form.get("phone", "").strip()
    name = ctx.form.get("name", "").strip()
    problem = phone_problem(phone)
    if problem is None and len(name) > MAX_NAME_CHARS:
        problem = invalid("/name", f"At most {MAX_NAME_CHARS} characters.")
    if problem is None:
        body: dict[str, Any] = {"phone": phone, **({"name": name} if name else {})}
        try:
            created = ctx.api.post("/v1/recipients", body, idempotency_key=ctx.idempotency_key())
        except ApiProblem as refused:
            if not for_the_form(refused):
                raise
            problem = refused
            if refused.code == "recipient_exists":
                refused.body["errors"] = [{"pointer": "/phone", "message": "This number is already a recipient."}]
        else:
            return ctx.redirect(f"{PREFIX}/recipients/{segment(created.body['id'])}", notice="recipient_created")
    return _list(ctx, status=problem.status, problem=problem)


def _detail(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None) -> Response:
    rid = segment(ctx.params["recipient_id"])
    recipient = ctx.api.get(f"/v1/recipients/{rid}").body
    ledger = ctx.api.get(f"/v1/recipients/{rid}/consents", cursor=ctx.query.get("cursor"))
    return ctx.render(
        "recipients/detail.html",
        status=status,
        problem=problem,
        recipient=recipient,
        ledger=ledger.data,
        next_cursor=ledger.body.get("next_cursor"),
        channels=CHANNELS,
        consent_statuses=CONSENT_STATUSES,
        sources=SOURCES,
    )


@page("GET", f"{PREFIX}/recipients/{{recipient_id}}")
def recipient(ctx: Ctx) -> Response:
    """One recipient: details, consent per channel, the ledger oldest first."""
    return _detail(ctx)


@page("POST", f"{PREFIX}/recipients/{{recipient_id}}/consents")
def record_consent(ctx: Ctx) -> Response:
    """POST /v1/recipients/{id}/consents (evidence when the form gives it: an opt-in over the account's opt-out)."""
    form = ctx.form
    body: dict[str, Any] = {k: form.get(k, "") for k in ("channel", "status", "source")}
    evidence = {k: form[f"evidence.{k}"].strip() for k in ("text_version", "captured_at") if form.get(f"evidence.{k}")}
    if evidence:
        body["evidence"] = evidence
    path = f"/v1/recipients/{segment(ctx.params['recipient_id'])}/consents"
    try:
        ctx.api.post(path, body, idempotency_key=ctx.idempotency_key())
    except ApiProblem as problem:
        if not for_the_form(problem):
            raise
        if problem.code == "invalid_body":
            problem = invalid("/source", "Choose one of the listed values.", problem.detail)
        return _detail(ctx, status=problem.status, problem=problem)
    return ctx.redirect(f"{PREFIX}/recipients/{segment(ctx.params['recipient_id'])}", notice="consent_recorded")


@page("POST", f"{PREFIX}/recipients/{{recipient_id}}/erase")
def erase(ctx: Ctx) -> Response:
    """DELETE /v1/recipients/{id}, only once the box saying it cannot be undone is ticked."""
    if ctx.form.get("confirm") != "erase":
        problem = invalid("/confirm", "Tick the box to confirm: erasure cannot be undone.", "Nothing was erased.")
        return _detail(ctx, status=422, problem=problem)
    ctx.api.delete(f"/v1/recipients/{segment(ctx.params['recipient_id'])}")
    return ctx.redirect(f"{PREFIX}/recipients", notice="recipient_erased")

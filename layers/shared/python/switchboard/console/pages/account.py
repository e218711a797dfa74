"""The account: its facts, sender numbers and plan limits; the owner's export, deletion and (signed out) restore
(docs/account-lifecycle.md)."""

from __future__ import annotations

import re
from typing import Any

from switchboard.console import security
from switchboard.console.app import PREFIX, Ctx, notice, page
from switchboard.console.client import ApiProblem
from switchboard.console.web import Response, expired
from switchboard.models import plans
from switchboard.models.permissions import Permission

BASE = f"{PREFIX}/account"
# A second factor the owner types: six digits are a TOTP code, anything longer (or with a dash) a recovery code.
_TOTP = re.compile(r"\d{6}")
# Answers whose message belongs beside a field of the form rather than on an error page (a wrong password is a
# 401 here, not an ended session).
_CREDENTIAL_CODES = {"invalid_credentials": "password", "mfa_required": "code", "invalid_mfa_code": "code"}

notice("account_restored", "Your account is restored. Sign in again; API keys work again too.")


def _limits(plan_name: str) -> dict[str, Any]:
    """What the account's plan allows (switchboard.models.plans, the figures the API enforces)."""
    plan = plans.get(plan_name)
    gib = plans.storage_bytes(plan_name) / plans.GIB
    return {
        "name": plan.name,
        "per_key": plan.per_key,
        "per_account": plan.per_account,
        "daily_messages": plans.daily_messages(plan_name),
        "storage": f"{gib:g} GiB",
    }


def _bucket(headers: dict[str, str]) -> dict[str, str] | None:
    """The account's request bucket as the API reported it on this very request (RateLimit-* headers)."""
    found = {k: headers.get(f"ratelimit-{k}", "") for k in ("limit", "remaining", "reset")}
    return found if all(v.isdigit() for v in found.values()) else None


def _second_factor(ctx: Ctx, body: dict[str, str]) -> dict[str, str]:
    code = ctx.form.get("code", "").strip().replace(" ", "")
    if code:
        body["totp_code" if _TOTP.fullmatch(code) else "recovery_code"] = code
    return body


def _beside_fields(problem: ApiProblem) -> ApiProblem:
    """A credential refusal shown beside the field it is about (`/totp_code` and `/recovery_code` are `code`)."""
    field = _CREDENTIAL_CODES.get(problem.code)
    errors = problem.body.get("errors") or []
    if field and not errors:
        errors = [{"pointer": f"/{field}", "message": problem.detail}]
    for error in errors:
        if isinstance(error, dict) and error.get("pointer") in {"/totp_code", "/recovery_code"}:
            error["pointer"] = "/code"
    problem.body["errors"] = errors
    return problem


@page("GET", BASE)
def account(ctx: Ctx) -> Response:
    """GET /v1/account: name, id, status, plan, created, sender numbers, and the plan's limits."""
    answer = ctx.api.get("/v1/account")
    info = answer.body if isinstance(answer.body, dict) else {}
    return ctx.render(
        "account/account.html",
        account=info,
        limits=_limits(str(info.get("plan", ""))),
        bucket=_bucket(answer.headers),
        owner=ctx.can(Permission.ACCOUNT_MANAGE),
    )


@page("POST", f"{BASE}/export")
def export(ctx: Ctx) -> Response:
    """GET /v1/account/export as a JSON attachment (owner; a login or re-authentication within 5 minutes)."""
    try:
        raw, _headers = ctx.api.download("/v1/account/export")
    except ApiProblem as problem:
        if problem.code == "reauth_required":
            return ctx.redirect(f"{PREFIX}/reauth", next=BASE)
        raise
    account_id = re.sub(r"[^A-Za-z0-9_-]", "", ctx.me.get("account_id", "")) or "account"
    return Response(
        body=raw.decode("utf-8", "replace"),
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="switchboard-export-{account_id}.json"'},
        cookies=ctx.cookies,
    )


@page("GET", f"{BASE}/delete")
def delete_form(ctx: Ctx) -> Response:
    """The closing form (owner): what happens, when the data goes, password and code."""
    if not ctx.can(Permission.ACCOUNT_MANAGE):
        return ctx.render(
            "error.html", status=403, title="Not allowed", detail="Only an owner of the account can delete it."
        )
    return ctx.render("account/delete.html", account=ctx.api.get("/v1/account").body or {})


@page("POST", f"{BASE}/delete")
def delete(ctx: Ctx) -> Response:
    """DELETE /v1/account: every session (this one too) and key stops now; the page shows until when it can be
    restored."""
    if ctx.form.get("confirm") != "yes":
        problem = ApiProblem(
            422,
            {
                "code": "confirmation_required",
                "detail": "Confirm that you understand what deleting the account does.",
                "errors": [{"pointer": "/confirm", "message": "Tick this box to delete the account."}],
            },
        )
        return ctx.render("account/delete.html", status=422, problem=problem, account=ctx.api.get("/v1/account").body)
    body = _second_factor(ctx, {"password": ctx.form.get("password", "")})
    try:
        answer = ctx.api.delete("/v1/account", body)
    except ApiProblem as problem:
        if problem.status not in {401, 409, 422} or (problem.status == 401 and problem.code not in _CREDENTIAL_CODES):
            raise
        account_info = ctx.api.get("/v1/account").body
        return ctx.render(
            "account/delete.html", status=problem.status, problem=_beside_fields(problem), account=account_info
        )
    email = str(ctx.me.get("email", ""))
    # The API ended this session with all the others: the page is shown signed out, its restore form bound to a
    # new pre-session cookie like any signed-out form.
    presession, set_presession = security.new_presession()
    ctx.cookies += [expired(security.SESSION_COOKIE), set_presession]
    ctx.session, ctx._me, ctx.csrf = None, None, security.csrf_token(presession)
    return ctx.render("account/deleted.html", deletion=answer.body or {}, values={"email": email})


@page("GET", f"{BASE}/restore", signed_in=False)
def restore_form(ctx: Ctx) -> Response:
    """Restore an account pending deletion: public, since its sessions ended (an owner's e-mail and password)."""
    return ctx.render("account/restore.html")


@page("POST", f"{BASE}/restore", signed_in=False)
def restore(ctx: Ctx) -> Response:
    """POST /v1/account/restore; then the owner signs in again."""
    body = _second_factor(ctx, {"email": ctx.form.get("email", ""), "password": ctx.form.get("password", "")})
    try:
        ctx.api.post("/v1/account/restore", body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return ctx.render("account/restore.html", status=problem.status, problem=_beside_fields(problem))
    return ctx.redirect(f"{PREFIX}/login", notice="account_restored")

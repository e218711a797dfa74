"""Members and invitations: list, invite (e-mail and role), change a role, remove a member or cancel an invitation."""

from __future__ import annotations

from switchboard.console.app import PREFIX, Ctx, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.pages.keys import grantable
from switchboard.console.pages.profile import reauth_first, shown_again
from switchboard.console.web import Response
from switchboard.models.permissions import may_grant

MEMBERS = f"{PREFIX}/members"
PAGE_LIMIT = 100

notice("member_invited", "Invitation sent: the link in it works for 7 days.")
notice("role_changed", "Role changed: it applies from the member's next request.")
notice("member_removed", "Removed: their sessions and API keys have ended.")
notice("invitation_cancelled", "Invitation cancelled: its link no longer works.")


def _index(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None) -> Response:
    """The list as the API shows it to this role: owners and admins read it; for other roles the API refuses it,
    and the page says who can."""
    role = str(ctx.me.get("role", ""))
    try:
        answer = ctx.api.get("/v1/members", limit=PAGE_LIMIT, cursor=ctx.query.get("cursor"))
    except ApiProblem as refused:
        if refused.status != 403:
            raise
        return ctx.render("members/index.html", status=status, problem=problem, listed=False, rows=[], roles=[])
    return ctx.render(
        "members/index.html",
        status=status,
        problem=problem,
        listed=True,
        rows=answer.data,
        next_cursor=answer.body.get("next_cursor"),
        alone=not answer.body.get("next_cursor")
        and all(m.get("user_id") == ctx.me.get("user_id") for m in answer.data),
        roles=grantable(role),
        # What the page offers is what the API allows: not yourself here, never a role above what you may grant.
        manageable={
            str(m.get("user_id") or m.get("invitation_id"))
            for m in answer.data
            if may_grant(role, m.get("role", "")) and m.get("user_id") != ctx.me.get("user_id")
        },
    )


def _row_refused(ctx: Ctx, problem: ApiProblem) -> Response:
    """A row's action refused (the last owner, a role that does not exist): said above the list, since its field
    names would otherwise show beside the invitation form's."""
    problem.body["errors"] = []
    return _index(ctx, status=problem.status, problem=problem)


@page("GET", MEMBERS)
def members(ctx: Ctx) -> Response:
    """GET /v1/members: members, then pending invitations."""
    return _index(ctx)


@page("POST", MEMBERS)
def invite(ctx: Ctx) -> Response:
    """POST /v1/members: a 7-day single-use link goes to the address."""
    body = {"email": ctx.form.get("email", ""), "role": ctx.form.get("role", "")}
    try:
        ctx.api.post("/v1/members", body, idempotency_key=ctx.idempotency_key())
    except ApiProblem as problem:
        if problem.code == "member_exists" and not problem.field_errors:
            problem.body["errors"] = [{"pointer": "/email", "message": problem.detail}]
        if shown_again(problem):
            return _index(ctx, status=problem.status, problem=problem)
        return reauth_first(ctx, problem, MEMBERS)
    return ctx.redirect(MEMBERS, notice="member_invited")


@page("POST", f"{MEMBERS}/{{user_id}}/role")
def change_role(ctx: Ctx) -> Response:
    """PATCH /v1/members/{id}: applies on the member's next request; admins cannot touch owners (403)."""
    try:
        ctx.api.patch(f"/v1/members/{segment(ctx.params['user_id'])}", {"role": ctx.form.get("role", "")})
    except ApiProblem as problem:
        if shown_again(problem):
            return _row_refused(ctx, problem)
        return reauth_first(ctx, problem, MEMBERS)
    return ctx.redirect(MEMBERS, notice="role_changed")


@page("POST", f"{MEMBERS}/{{user_id}}/remove")
def remove(ctx: Ctx) -> Response:
    """DELETE /v1/members/{id}: a member's sessions and keys die at once; an `inv_…` id cancels an invitation."""
    user_id = ctx.params["user_id"]
    try:
        ctx.api.delete(f"/v1/members/{segment(user_id)}")
    except ApiProblem as problem:
        if shown_again(problem):
            return _row_refused(ctx, problem)
        return reauth_first(ctx, problem, MEMBERS)
    return ctx.redirect(MEMBERS, notice="invitation_cancelled" if user_id.startswith("inv_") else "member_removed")

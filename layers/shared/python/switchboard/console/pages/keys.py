"""API keys: list, create (the key shown once), revoke, rotate with a grace period."""

from __future__ import annotations

import re
from typing import Any

from switchboard.console.app import PREFIX, Ctx, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.pages.profile import reauth_first, shown_again
from switchboard.console.web import Response
from switchboard.models.permissions import Role, may_grant

KEYS = f"{PREFIX}/api-keys"
PAGE_LIMIT = 100  # an account holds at most 50 live keys: one page shows them all
DEFAULT_GRACE_S = 86400
GRACE_CHOICES = ((3600, "1 hour"), (86400, "24 hours"), (7 * 86400, "7 days"), (0, "no time: it stops now"))
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

notice("key_revoked", "The key is revoked: it is refused from the next request on.")


def grantable(role: str) -> list[tuple[str, str]]:
    """The roles someone with `role` may give a key or a member, highest first, as select options."""
    return [(r.value, r.value) for r in Role if may_grant(role, r)]


def _index(ctx: Ctx, *, status: int = 200, problem: ApiProblem | None = None) -> Response:
    answer = ctx.api.get("/v1/api-keys", limit=PAGE_LIMIT, cursor=ctx.query.get("cursor"))
    role = str(ctx.me.get("role", ""))
    return ctx.render(
        "keys/index.html",
        status=status,
        problem=problem,
        keys=answer.data,
        next_cursor=answer.body.get("next_cursor"),
        roles=grantable(role),
        manageable={k["id"] for k in answer.data if may_grant(role, k.get("role", ""))},
        grace_choices=GRACE_CHOICES,
        default_grace=DEFAULT_GRACE_S,
    )


@page("GET", KEYS)
def keys(ctx: Ctx) -> Response:
    """GET /v1/api-keys (no secrets) and the form for a new key; the API refuses roles that manage no keys."""
    return _index(ctx)


@page("POST", KEYS)
def create(ctx: Ctx) -> Response:
    """POST /v1/api-keys: the key appears on this answer and nowhere else."""
    form = ctx.form
    body: dict[str, Any] = {"name": form.get("name", ""), "role": form.get("role", "")}
    if expiry := form.get("expires_at", "").strip():
        # A date means the end of that day (UTC); anything else goes as typed, for the API to say what is wrong.
        body["expires_at"] = f"{expiry}T23:59:59Z" if _DATE.fullmatch(expiry) else expiry
    try:
        answer = ctx.api.post("/v1/api-keys", body, idempotency_key=ctx.idempotency_key())
    except ApiProblem as problem:
        if problem.code == "idempotency_secret_shown":
            created = problem.body.get("id", "")
            problem.detail = (
                "This form was already sent, and the key it made was shown then: it is never shown again. "
                f"If you did not store it, revoke {created or 'it'} below and create another."
            )
        if shown_again(problem):
            return _index(ctx, status=problem.status, problem=problem)
        return reauth_first(ctx, problem, KEYS)
    return ctx.render("keys/created.html", key=answer.body, rotated=None)


@page("POST", f"{KEYS}/{{key_id}}/revoke")
def revoke(ctx: Ctx) -> Response:
    """DELETE /v1/api-keys/{id}: refused from the next request on (404 for a key that is not this account's)."""
    try:
        ctx.api.delete(f"/v1/api-keys/{segment(ctx.params['key_id'])}")
    except ApiProblem as problem:
        return reauth_first(ctx, problem, KEYS)
    return ctx.redirect(KEYS, notice="key_revoked")


@page("POST", f"{KEYS}/{{key_id}}/rotate")
def rotate(ctx: Ctx) -> Response:
    """POST /v1/api-keys/{id}/rotate: the new key shown once; the old one keeps working for the grace chosen."""
    key_id = ctx.params["key_id"]
    grace = ctx.form.get("grace_s", str(DEFAULT_GRACE_S)).strip()
    try:
        answer = ctx.api.post(
            f"/v1/api-keys/{segment(key_id)}/rotate",
            {"grace_s": int(grace) if grace.isdigit() and len(grace) < 10 else grace},
            idempotency_key=ctx.idempotency_key(),
        )
    except ApiProblem as problem:
        if shown_again(problem):
            return _index(ctx, status=problem.status, problem=problem)
        return reauth_first(ctx, problem, KEYS)
    # The old key's end as the API now holds it (a grace only ever shortens): read back, not computed here.
    old = next((k for k in ctx.api.get("/v1/api-keys", limit=PAGE_LIMIT).data if k.get("id") == key_id), None)
    return ctx.render("keys/created.html", key=answer.body, rotated={"id": key_id, "until": old and old["expires_at"]})

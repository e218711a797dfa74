"""The audit trail: its events newest first and the hash chain's verification (docs/audit.md); owners and admins."""

from __future__ import annotations

from typing import Any

from switchboard.console.app import PREFIX, Ctx, page
from switchboard.console.client import ApiProblem
from switchboard.console.web import Response

PAGE_SIZE = 25  # the API's default page


def _people(ctx: Ctx) -> dict[str, str]:
    """Member e-mails by user id, so an actor reads as a person (owners and admins may list members)."""
    try:
        members = ctx.api.get("/v1/members", limit=100).data or []
    except ApiProblem as problem:
        if problem.status in {401, 429} or problem.status >= 500:
            raise
        return {}  # the trail still shows the ids
    return {str(m["user_id"]): str(m.get("email", "")) for m in members if isinstance(m, dict) and m.get("user_id")}


@page("GET", f"{PREFIX}/audit")
def trail(ctx: Ctx) -> Response:
    """GET /v1/audit-events (paged by `cursor`) and, on the newest page, GET /v1/audit-events/verification."""
    cursor = ctx.query.get("cursor")
    answer = ctx.api.get("/v1/audit-events", limit=PAGE_SIZE, cursor=cursor)
    body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
    # Verification reads the whole chain: once, above the newest events, not again for every older page.
    verification = None if cursor else ctx.api.get("/v1/audit-events/verification").body
    return ctx.render(
        "audit/trail.html",
        events=answer.data or [],
        next_cursor=body.get("next_cursor"),
        verification=verification,
        older=bool(cursor),
        people=_people(ctx),
    )

"""The signed-in person's own pages: profile, two-step sign-in (TOTP, recovery codes), password and sessions."""

from __future__ import annotations

import re
from typing import Any

import segno
from markupsafe import Markup

from switchboard.console.app import PREFIX, Ctx, notice, page
from switchboard.console.client import ApiProblem, segment
from switchboard.console.security import SESSION_COOKIE
from switchboard.console.web import Response, expired

PROFILE = f"{PREFIX}/profile"
SESSIONS = f"{PREFIX}/sessions"
# What the API answers when a password or code in the form is wrong: shown beside the field, never a sign-out.
CREDENTIAL_CODES = frozenset({"invalid_credentials", "invalid_mfa_code", "mfa_required"})
SESSIONS_PAGE_LIMIT = 100

notice("mfa_off", "Two-step sign-in is off. Your account is protected by your password alone.")
notice("password_changed", "Your password is changed. Every other session has ended.")
notice("session_revoked", "That session has ended.")
notice("sessions_revoked", "Every other session has ended. This one stays signed in.")
notice("all_sessions_ended", "Every session has ended, this one too. Sign in again to continue.")


def reauth_first(ctx: Ctx, problem: ApiProblem, back: str) -> Response:
    """A sensitive action the API refused for want of a recent sign-in: confirm the password, then come back to
    `back` (the page the form was on: a form's own URL takes no GET). Any other problem is the framework's."""
    if problem.status == 401 and problem.code == "reauth_required":
        return ctx.redirect(f"{PREFIX}/reauth", next=back)
    raise problem


# The gateway's schema refusal names the field in its detail (`[/password: fails minLength 15]`), not in pointers.
_SCHEMA_FIELD = re.compile(r"\[/(?P<field>[A-Za-z_]+): (?:fails (?P<rule>minLength|maxLength) (?P<limit>\d+))?")
_RULES = {"minLength": "Too short: at least {} characters.", "maxLength": "Too long: at most {} characters."}


def shown_again(problem: ApiProblem, field: str | None = None) -> bool:
    """Whether the form should be shown again with `problem` beside its fields (bad input, a wrong password or code,
    a conflict); a wrong password or code goes beside `field`. Anything else (403, 404, 429, a dead session, a
    stale sign-in) is the framework's page."""
    if problem.status == 401 and problem.code in CREDENTIAL_CODES:
        if field and not problem.field_errors:
            problem.body["errors"] = [{"pointer": f"/{field}", "message": problem.detail}]
        return True
    if problem.status not in {400, 409, 422}:
        return False
    found = _SCHEMA_FIELD.search(problem.detail) if problem.code == "invalid_body" else None
    if found and not problem.field_errors:
        rule = _RULES.get(found["rule"] or "")
        message = rule.format(found["limit"]) if rule else "This value is not accepted."
        problem.body["errors"] = [{"pointer": f"/{found['field']}", "message": message}]
    return True


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG (no style attribute, so the CSP allows it), named for screen readers."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, title="QR code of your two-step sign-in key", svgclass="qr-code", lineclass=None, omitsize=True
    )
    if "style=" in svg:  # segno's output today has none; an inline style would break under the CSP
        raise ValueError("segno rendered an inline style")
    # The path data is segno's, from our own URI: no text from a request reaches the markup.
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code of your two-step sign-in key" ', 1))  # noqa: S704


@page("GET", PROFILE)
def profile(ctx: Ctx) -> Response:
    """E-mail, role and two-step sign-in, with the forms that change them."""
    return ctx.render("profile/index.html")


def _profile_again(ctx: Ctx, problem: ApiProblem, form: str, renamed: dict[str, str] | None = None) -> Response:
    """The profile again with `problem` beside the fields of `form` (`renamed`: the API's pointer to the field's name
    on this page, where two forms of the page would otherwise share a field name and its id)."""
    for error in problem.body.get("errors") or []:
        if isinstance(error, dict) and error.get("pointer") in (renamed or {}):
            error["pointer"] = (renamed or {})[error["pointer"]]
    return ctx.render("profile/index.html", status=problem.status, problem=problem, failed_form=form)


@page("POST", f"{PROFILE}/totp")
def totp_start(ctx: Ctx) -> Response:
    """POST /v1/me/mfa/totp: a new key, shown as a QR code and as text (for typing into the app)."""
    try:
        answer = ctx.api.post("/v1/me/mfa/totp")
    except ApiProblem as problem:
        if shown_again(problem):
            return _profile_again(ctx, problem, "totp")
        return reauth_first(ctx, problem, PROFILE)
    body: dict[str, Any] = answer.body or {}
    secret = str(body.get("secret", ""))
    return ctx.render("profile/totp.html", secret=secret, grouped=_grouped(secret), qr=qr_svg(body["otpauth_uri"]))


def _grouped(secret: str) -> str:
    """The key in groups of four, as authenticator apps show and accept it."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@page("POST", f"{PROFILE}/totp/activate")
def totp_activate(ctx: Ctx) -> Response:
    """POST /v1/me/mfa/totp/activate: on, and the ten recovery codes on this answer only."""
    try:
        answer = ctx.api.post("/v1/me/mfa/totp/activate", {"code": ctx.form.get("code", "").replace(" ", "")})
    except ApiProblem as problem:
        if problem.code == "mfa_not_enrolling":
            return _profile_again(ctx, problem, "totp")
        if shown_again(problem, "code"):
            # The pending key stays on the server: a new code from the same app is all it takes.
            return ctx.render("profile/totp.html", status=problem.status, problem=problem, secret="", qr=None)
        return reauth_first(ctx, problem, PROFILE)
    return ctx.render("profile/recovery_codes.html", codes=answer.body["recovery_codes"], activated=True)


@page("POST", f"{PROFILE}/recovery-codes")
def recovery_codes(ctx: Ctx) -> Response:
    """POST /v1/me/mfa/recovery-codes: ten new codes on this answer only; the previous ten stop working."""
    try:
        answer = ctx.api.post("/v1/me/mfa/recovery-codes", {"code": ctx.form.get("code", "").replace(" ", "")})
    except ApiProblem as problem:
        if shown_again(problem, "code"):
            return _profile_again(ctx, problem, "recovery")
        return reauth_first(ctx, problem, PROFILE)
    return ctx.render("profile/recovery_codes.html", codes=answer.body["recovery_codes"], activated=False)


@page("POST", f"{PROFILE}/totp/disable")
def totp_disable(ctx: Ctx) -> Response:
    """DELETE /v1/me/mfa/totp with the password and a current code (or a recovery code)."""
    body = {"password": ctx.form.get("password", ""), "code": ctx.form.get("off_code", "").strip()}
    try:
        ctx.api.delete("/v1/me/mfa/totp", body)
    except ApiProblem as problem:
        if shown_again(problem, "password" if problem.code == "invalid_credentials" else "code"):
            return _profile_again(ctx, problem, "disable", {"/code": "/off_code"})
        return reauth_first(ctx, problem, PROFILE)
    return ctx.redirect(PROFILE, notice="mfa_off")


@page("POST", f"{PROFILE}/password")
def change_password(ctx: Ctx) -> Response:
    """POST /v1/me/password: this session stays, every other one ends."""
    body = {
        "current_password": ctx.form.get("current_password", ""),
        "new_password": ctx.form.get("new_password", ""),
    }
    try:
        ctx.api.post("/v1/me/password", body)
    except ApiProblem as problem:
        if shown_again(problem, "current_password"):
            return _profile_again(ctx, problem, "password")
        return reauth_first(ctx, problem, PROFILE)
    return ctx.redirect(PROFILE, notice="password_changed")


@page("GET", SESSIONS)
def sessions(ctx: Ctx) -> Response:
    """GET /v1/sessions: where this person is signed in, this session marked."""
    answer = ctx.api.get("/v1/sessions", limit=SESSIONS_PAGE_LIMIT, cursor=ctx.query.get("cursor"))
    return ctx.render("profile/sessions.html", sessions=answer.data, next_cursor=answer.body.get("next_cursor"))


@page("POST", f"{SESSIONS}/{{session_id}}/revoke")
def revoke_session(ctx: Ctx) -> Response:
    """DELETE /v1/sessions/{id}: that device is signed out at its next request (404 for one that is not ours)."""
    ctx.api.delete(f"/v1/sessions/{segment(ctx.params['session_id'])}")
    return ctx.redirect(SESSIONS, notice="session_revoked")


@page("POST", f"{SESSIONS}/revoke-others")
def revoke_other_sessions(ctx: Ctx) -> Response:
    """Every session but this one, one DELETE each (the API's DELETE /v1/sessions would end this one too)."""
    cursor: str | None = None
    others: list[str] = []
    while True:
        answer = ctx.api.get("/v1/sessions", limit=SESSIONS_PAGE_LIMIT, cursor=cursor)
        others += [str(s["id"]) for s in answer.data if not s.get("current")]
        cursor = answer.body.get("next_cursor")
        if not cursor:
            break
    for session_id in others:
        try:
            ctx.api.delete(f"/v1/sessions/{segment(session_id)}")
        except ApiProblem as problem:
            if problem.status != 404:  # ended meanwhile (signed out, idle): what we wanted anyway
                raise
    return ctx.redirect(SESSIONS, notice="sessions_revoked")


@page("POST", f"{SESSIONS}/revoke-all")
def revoke_all_sessions(ctx: Ctx) -> Response:
    """DELETE /v1/sessions: every session ends, this one included, so the cookie goes too."""
    ctx.api.delete("/v1/sessions")
    ctx.cookies.append(expired(SESSION_COOKIE))
    return ctx.redirect(f"{PREFIX}/login", notice="all_sessions_ended")

"""Signing up, confirming an e-mail, signing in (with TOTP or a recovery code), out, re-authenticating, password
resets and invitations: the public routes of the API, as forms."""

from __future__ import annotations

from typing import Any

from switchboard.console.app import PREFIX, Ctx, notice, page, safe_next, session_started
from switchboard.console.client import ApiProblem
from switchboard.console.security import SESSION_COOKIE
from switchboard.console.web import Response, expired

notice("welcome", "You are signed in.")

# The password policy's length (switchboard.crypto.passwords; a unit test keeps them equal). The gateway's request
# model refuses a shorter or longer new password with a 400 that names no field, so the form checks it first and
# shows why beside the field; the API still applies the whole policy (a 422 with its pointer).
NEW_PASSWORD_CHARS = (15, 256)


def _new_password_problem(name: str, value: str) -> ApiProblem | None:
    low, high = NEW_PASSWORD_CHARS
    if low <= len(value) <= high:
        return None
    message = f"Use at least {low} characters." if len(value) < low else f"Use at most {high} characters."
    body = {"status": 422, "code": "invalid_password", "title": "Choose another password", "detail": message}
    return ApiProblem(422, {**body, "errors": [{"pointer": f"/{name}", "message": message}]})


def _refused(ctx: Ctx, path: str, body: dict[str, str], template: str, **values: Any) -> Response | None:
    """POST a signed-out form's `body` to the API: None when it is taken, else the form again with the problem
    beside its fields (a server error is the framework's page)."""
    try:
        ctx.api.post(path, body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return ctx.render(template, status=problem.status, problem=problem, **values)
    return None


@page("GET", f"{PREFIX}/signup", signed_in=False)
def signup_form(ctx: Ctx) -> Response:
    """The sign-up form."""
    return ctx.render("auth/signup.html")


@page("POST", f"{PREFIX}/signup", signed_in=False)
def signup(ctx: Ctx) -> Response:
    """POST /v1/signup: the same answer for an address already registered, so the page says only 'check e-mail'."""
    form = ctx.form
    body = {k: form.get(k, "") for k in ("email", "password", "account_name")}
    if weak := _new_password_problem("password", body["password"]):
        return ctx.render("auth/signup.html", status=weak.status, problem=weak)
    refused = _refused(ctx, "/v1/signup", body, "auth/signup.html")
    if refused is not None:
        return refused
    return ctx.redirect(f"{PREFIX}/login", notice="verify_sent")


@page("GET", f"{PREFIX}/verify-email", signed_in=False)
def verify_form(ctx: Ctx) -> Response:
    """The e-mailed link opens this form; only its button (a POST) spends the token, so a mail scanner that
    follows links spends nothing."""
    return ctx.render("auth/verify.html", values={"token": ctx.query.get("token", "")})


@page("POST", f"{PREFIX}/verify-email", signed_in=False)
def verify(ctx: Ctx) -> Response:
    """POST /v1/email-verifications."""
    refused = _refused(ctx, "/v1/email-verifications", {"token": ctx.form.get("token", "")}, "auth/verify.html")
    if refused is not None:
        return refused
    return ctx.redirect(f"{PREFIX}/login", notice="verified")


@page("GET", f"{PREFIX}/login", signed_in=False)
def login_form(ctx: Ctx) -> Response:
    """The sign-in form (e-mail, password and, when two-step sign-in is on, a code)."""
    return ctx.render("auth/login.html", next=safe_next(ctx.query.get("next")))


@page("POST", f"{PREFIX}/login", signed_in=False)
def login(ctx: Ctx) -> Response:
    """POST /v1/sessions; the new session becomes the `__Host-` cookie, never part of a URL."""
    form = ctx.form
    body: dict[str, str] = {"email": form.get("email", ""), "password": form.get("password", "")}
    code = form.get("code", "").strip().replace(" ", "")
    if code:
        body["recovery_code" if len(code) > 8 or "-" in code else "totp_code"] = code
    target = safe_next(form.get("next"))
    try:
        answer = ctx.api.post("/v1/sessions", body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        if problem.code == "mfa_required":
            problem.body["errors"] = [{"pointer": "/code", "message": "Enter the code from your authenticator app."}]
        elif problem.code == "invalid_mfa_code":
            problem.body["errors"] = [{"pointer": "/code", "message": problem.detail}]
        return ctx.render(
            "auth/login.html",
            status=problem.status,
            problem=problem,
            next=target,
            mfa=problem.code in {"mfa_required", "invalid_mfa_code"},
        )
    session_started(ctx, answer.body)
    return ctx.redirect(target)


@page("POST", f"{PREFIX}/logout")
def logout(ctx: Ctx) -> Response:
    """DELETE /v1/sessions/current: the token is dead at once, and the cookie goes with it."""
    try:
        ctx.api.delete("/v1/sessions/current")
    except ApiProblem as problem:
        if problem.status != 401:
            raise
    ctx.cookies.append(expired(SESSION_COOKIE))
    return ctx.redirect(f"{PREFIX}/login", notice="signed_out")


@page("GET", f"{PREFIX}/reauth")
def reauth_form(ctx: Ctx) -> Response:
    """Confirm the password (and code) before a sensitive action (R24: within the last 5 minutes)."""
    return ctx.render("auth/reauth.html", next=safe_next(ctx.query.get("next")))


@page("POST", f"{PREFIX}/reauth")
def reauth(ctx: Ctx) -> Response:
    """POST /v1/sessions/current/reauth; back to the page that asked for it."""
    body = {"password": ctx.form.get("password", "")}
    if code := ctx.form.get("totp_code", "").strip():
        body["totp_code"] = code
    target = safe_next(ctx.form.get("next"))
    try:
        ctx.api.post("/v1/sessions/current/reauth", body)
    except ApiProblem as problem:
        if problem.status >= 500 or (
            problem.status == 401 and problem.code not in {"invalid_credentials", "invalid_mfa_code", "mfa_required"}
        ):
            raise
        return ctx.render("auth/reauth.html", status=problem.status, problem=problem, next=target)
    return ctx.redirect(target, notice="reauthenticated")


@page("GET", f"{PREFIX}/reset-password", signed_in=False)
def reset_form(ctx: Ctx) -> Response:
    """Ask for a reset link, or (from the e-mailed link) choose the new password."""
    token = ctx.query.get("token", "")
    return ctx.render("auth/reset.html", values={"token": token}, with_token=bool(token))


@page("POST", f"{PREFIX}/reset-password", signed_in=False)
def reset_request(ctx: Ctx) -> Response:
    """POST /v1/password-resets: the same answer for unknown addresses."""
    refused = _refused(
        ctx, "/v1/password-resets", {"email": ctx.form.get("email", "")}, "auth/reset.html", with_token=False
    )
    if refused is not None:
        return refused
    return ctx.redirect(f"{PREFIX}/login", notice="reset_sent")


@page("POST", f"{PREFIX}/reset-password/confirm", signed_in=False)
def reset_confirm(ctx: Ctx) -> Response:
    """POST /v1/password-resets/confirm: every session ends."""
    body = {"token": ctx.form.get("token", ""), "new_password": ctx.form.get("new_password", "")}
    if weak := _new_password_problem("new_password", body["new_password"]):
        return ctx.render("auth/reset.html", status=weak.status, problem=weak, with_token=True)
    refused = _refused(ctx, "/v1/password-resets/confirm", body, "auth/reset.html", with_token=True)
    if refused is not None:
        return refused
    ctx.cookies.append(expired(SESSION_COOKIE))
    return ctx.redirect(f"{PREFIX}/login", notice="reset_done")


@page("GET", f"{PREFIX}/accept-invitation", signed_in=False)
def invitation_form(ctx: Ctx) -> Response:
    """The invitee chooses a password (the e-mailed link carries the token)."""
    return ctx.render("auth/invitation.html", values={"token": ctx.query.get("token", "")})


@page("POST", f"{PREFIX}/accept-invitation", signed_in=False)
def accept_invitation(ctx: Ctx) -> Response:
    """POST /v1/invitations/accept."""
    body = {"token": ctx.form.get("token", ""), "password": ctx.form.get("password", "")}
    if weak := _new_password_problem("password", body["password"]):
        return ctx.render("auth/invitation.html", status=weak.status, problem=weak)
    refused = _refused(ctx, "/v1/invitations/accept", body, "auth/invitation.html")
    if refused is not None:
        return refused
    return ctx.redirect(f"{PREFIX}/login", notice="invitation_accepted")

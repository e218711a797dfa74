"""The console's router: each page is a function of a `Ctx`; sessions, CSRF, API problems and errors are handled
here once, so a page only reads the API and renders (docs/console.md)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from switchboard.console import render as templates
from switchboard.console import security
from switchboard.console.client import ApiClient, ApiProblem, ApiUnavailable
from switchboard.console.web import BadRequest, Request, Response, expired, redirect
from switchboard.models.permissions import Permission, allows
from switchboard.observability import logger

PREFIX = "/console"
Page = Callable[["Ctx"], Response]

# Messages a redirect may show (`?notice=<key>`): a fixed list, so no URL can make the console say anything else.
NOTICES: dict[str, str] = {
    "signed_out": "You are signed out.",
    "session_ended": "Your session ended. Sign in again to continue.",
    "verify_sent": "Check your e-mail: we sent a link to confirm your address.",
    "verified": "Your e-mail address is confirmed. Sign in to continue.",
    "reset_sent": "If an account uses that address, we sent it a link to choose a new password.",
    "reset_done": "Your password is changed and every session has ended. Sign in with the new password.",
    "invitation_accepted": "Welcome aboard. Sign in with your new password.",
    "reauthenticated": "Confirmed. You can go on.",
}


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    page: Page
    signed_in: bool


_ROUTES: list[_Route] = []


def _compile(path: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{\w+\})", path):
        name = re.fullmatch(r"\{(\w+)\}", piece)
        parts.append(f"(?P<{name.group(1)}>[A-Za-z0-9_-]{{1,100}})" if name else re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


def page(method: str, path: str, *, signed_in: bool = True) -> Callable[[Page], Page]:
    """Register a page: `path` is `/console/...` with `{name}` segments (one segment each, never a `/`)."""
    pattern = _compile(path)

    def register(fn: Page) -> Page:
        _ROUTES.append(_Route(method.upper(), pattern, fn, signed_in))
        return fn

    return register


def notice(key: str, text: str) -> str:
    """Register a redirect message (pages add their own); returns the key."""
    NOTICES[key] = text
    return key


def _cannot(_permission: Permission | str) -> bool:
    return False


def _template_context(ctx: Ctx | None, request: Request, **own: Any) -> dict[str, Any]:
    """What every template reads (base.html's header, forms' CSRF field), with the page's own values on top."""
    return {
        "ctx": ctx,
        "me": None,
        "csrf": ctx.csrf if ctx else "",
        "csrf_field": security.CSRF_FIELD,
        "notice": None,
        "problem": None,
        "errors": {},
        "values": {},
        "session": ctx.session if ctx else None,
        "path": request.path,
        "can": _cannot,
        "Permission": Permission,
        "new_key": lambda: "",
        **own,
    }


@dataclass
class Ctx:
    """One request to one page: what it asked, who asks, and the API as that person."""

    request: Request
    params: dict[str, str]
    session: security.Session | None
    api: ApiClient
    csrf: str
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values to add to the answer
    _me: dict[str, Any] | None = None

    @property
    def form(self) -> dict[str, str]:
        """The posted form's fields (first value of each)."""
        return dict(self.request.form)

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters."""
        return dict(self.request.query)

    @property
    def me(self) -> dict[str, Any]:
        """`GET /v1/me`, once per request: who is signed in, their role and whether TOTP is on."""
        if self._me is None:
            self._me = self.api.get("/v1/me").body or {}
        return self._me

    def can(self, permission: Permission | str) -> bool:
        """The signed-in role holds `permission` (pages hide what it cannot do; the API refuses anyway)."""
        return bool(self.session) and allows(self.me.get("role", ""), Permission(permission))

    def idempotency_key(self) -> str:
        """The form's own Idempotency-Key (rendered once per form): a resubmitted form is a replay."""
        sent = self.request.form.get("idempotency_key", "")
        return sent if re.fullmatch(r"[A-Za-z0-9_-]{16,64}", sent) else ""

    def render(self, template: str, *, status: int = 200, problem: ApiProblem | None = None, **values: Any) -> Response:
        """An HTML page; `problem`'s field errors show beside their fields, its detail above the form."""
        signed_in = self.session is not None and bool(self._me)
        context = _template_context(
            self,
            self.request,
            me=self._me if signed_in else None,
            can=self.can if signed_in else _cannot,
            new_key=lambda: secrets.token_urlsafe(24),
            notice=NOTICES.get(self.request.query.get("notice", "")),
            problem=problem,
            errors=problem.field_errors if problem else {},
            values={**self.request.form, **values.pop("values", {})},
        )
        return Response(status=status, body=templates.render(template, **context, **values), cookies=self.cookies)

    def redirect(self, path: str, *, notice: str | None = None, **query: str) -> Response:
        """303 to another page of ours, with a registered notice."""
        wanted = {**query, **({"notice": notice} if notice else {})}
        location = f"{path}?{urlencode(wanted)}" if wanted else path
        return Response(status=303, headers={"Location": location}, cookies=self.cookies)


def _match(request: Request) -> tuple[_Route | None, dict[str, str], bool]:
    """The page for this method and path with its parameters, and whether the path exists at all (405 vs 404)."""
    exists = False
    for route in _ROUTES:
        found = route.pattern.match(request.path)
        if found:
            if route.method == request.method:
                return route, found.groupdict(), True
            exists = True
    return None, {}, exists


def for_the_form(problem: ApiProblem) -> bool:
    """Whether a refused form post shows `problem` beside its fields: not a server error, a dead session, a refusal,
    a missing resource or a rate limit, which are the framework's pages (raised on)."""
    return problem.status < 500 and problem.status not in {401, 403, 404, 429}


def _login_redirect(request: Request, *, notice: str | None) -> Response:
    query: dict[str, str] = {}
    if request.method == "GET" and request.path not in {f"{PREFIX}/login", PREFIX, f"{PREFIX}/"}:
        query["next"] = request.path
    if notice:
        query["notice"] = notice
    return redirect(f"{PREFIX}/login" + (f"?{urlencode(query)}" if query else ""))


_NEXT_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: one of our pages, never another site (`//evil`, `/\\evil`, a URL): `/console`
    and segments of letters, digits, `_`, `-` and inner dots (no `.`/`..`, no escapes, no empty segment)."""
    if value and len(value) <= 512 and (value == PREFIX or value.startswith(f"{PREFIX}/")):
        segments = value.removeprefix(PREFIX).split("/")[1:]
        if all(_NEXT_SEGMENT.fullmatch(segment) for segment in segments):
            return value
    return f"{PREFIX}/messages"


def _error(ctx: Ctx | None, request: Request, status: int, title: str, detail: str) -> Response:
    context = _template_context(ctx, request, me=ctx._me if ctx else None)
    body = templates.render("error.html", status=status, title=title, detail=detail, **context)
    return Response(status=status, body=body, cookies=ctx.cookies if ctx else [])


def stylesheet() -> Response:
    """The one stylesheet (versioned URL, so browsers may keep it a day)."""
    text, _version = templates.stylesheet()
    return Response(
        body=text, content_type="text/css; charset=utf-8", headers={"Cache-Control": "public, max-age=86400"}
    )


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """One API Gateway proxy event to one page's answer; never a 500 for anything a browser can send."""
    try:
        request = Request.from_event(event)
    except BadRequest as error:
        bare = Request(method="GET", path=PREFIX)
        return _error(None, bare, error.status, "Bad request", error.detail).to_proxy()
    return dispatch(request).to_proxy(request.request_id)


def dispatch(request: Request) -> Response:
    """Route, check the session and the form's token, run the page and turn API problems into pages."""
    if request.method == "GET" and request.path in {PREFIX, f"{PREFIX}/"}:
        return redirect(f"{PREFIX}/messages" if security.session_of(request) else f"{PREFIX}/login")
    if request.method == "GET" and request.path == f"{PREFIX}/static/console.css":
        return stylesheet()
    ctx, key = _context(request)
    route, ctx.params, exists = _match(request)
    refusal = _refusal(ctx, request, route, exists, key)
    if refusal is not None or route is None:
        return refusal or _error(ctx, request, 404, "Page not found", "There is no such page in the console.")
    try:
        if route.signed_in:
            _ = ctx.me  # the session is alive (and the role known) before the page runs
        return route.page(ctx)
    except ApiProblem as problem:
        return _problem_page(ctx, request, problem)
    except ApiUnavailable as error:
        logger.warning("console: API unavailable", extra={"path": request.path, "error": str(error)})
        return _error(ctx, request, 503, "Switchboard is unavailable", "Try again in a moment: nothing was changed.")


def _context(request: Request) -> tuple[Ctx, str]:
    """The page's context, and the key its CSRF tokens are bound to (a new pre-session cookie when there is none)."""
    session = security.session_of(request)
    cookies: list[str] = []
    key = session.token if session else security.presession_of(request)
    if key is None:
        key, set_cookie = security.new_presession()
        cookies.append(set_cookie)
    api = ApiClient(
        token=session.token if session else None,
        user_agent=request.headers.get("user-agent", ""),
        client_ip=request.client_ip,
    )
    return Ctx(request, {}, session, api, security.csrf_token(key), cookies), key


def _refusal(ctx: Ctx, request: Request, route: _Route | None, exists: bool, key: str) -> Response | None:
    """Why the page must not run: no such page, wrong method, a form without its token, no session."""
    if route is None:
        if exists:
            return _error(ctx, request, 405, "Method not allowed", "This page does not take that kind of request.")
        return _error(ctx, request, 404, "Page not found", "There is no such page in the console.")
    if request.method == "POST" and not (security.same_origin(request) and security.csrf_valid(request, key)):
        logger.warning("console form refused: CSRF", extra={"path": request.path})
        return _error(ctx, request, 403, "This form has expired", "Reload the page and submit the form again.")
    if route.signed_in and ctx.session is None:
        return _login_redirect(request, notice=None)
    return None


def _page_of(request: Request) -> str:
    """The page to come back to after re-authenticating: a GET's own path; for a form, the nearest page above its
    action that a GET opens (`/console/api-keys/k1/revoke` -> `/console/api-keys/k1` or `/console/api-keys`), where
    the person repeats the action (no Referer to go by: the console sends none)."""
    path = request.path
    while path.startswith(f"{PREFIX}/"):
        if request.method == "GET" or path != request.path:
            probe = Request(method="GET", path=path)
            if _match(probe)[0] is not None:
                return path
        path = path.rsplit("/", 1)[0]
    return PREFIX


def _problem_page(ctx: Ctx, request: Request, problem: ApiProblem) -> Response:
    if problem.status == 401 and problem.code == "reauth_required":
        return ctx.redirect(f"{PREFIX}/reauth", next=_page_of(request))
    if problem.status == 401:
        response = _login_redirect(request, notice="session_ended" if ctx.session else None)
        response.cookies = [*ctx.cookies, expired(security.SESSION_COOKIE)]
        return response
    if problem.status == 403:
        return _error(ctx, request, 403, "Not allowed", problem.detail)
    if problem.status == 404:
        return _error(ctx, request, 404, "Not found", problem.detail)
    if problem.status == 429:
        return _error(ctx, request, 429, "Slow down", problem.detail)
    return _error(
        ctx, request, problem.status if 400 <= problem.status < 600 else 502, problem.title or "Error", problem.detail
    )


def session_started(ctx: Ctx, answer: dict[str, Any]) -> security.Session:
    """The session a login answered (`{token, expires_at, idle_timeout_s}`), set as the cookie on this answer."""
    from switchboard import clock  # noqa: PLC0415

    expires, fallback = answer.get("expires_at"), int(time.time()) + 43200
    try:
        expires_at = int(clock.parse(expires).timestamp()) if isinstance(expires, str) else fallback
    except (ValueError, AttributeError):
        expires_at = fallback
    session = security.Session(str(answer["token"]), expires_at, int(answer.get("idle_timeout_s") or 1800))
    ctx.cookies = [c for c in ctx.cookies if not c.startswith(security.PRESESSION_COOKIE)]
    ctx.cookies += [session.set_cookie(), expired(security.PRESESSION_COOKIE)]
    return session
